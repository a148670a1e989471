// port-action/native/track, post stage: the end of the job, whatever happened.
require("../launcher.js").main(["track", "--post"]);
