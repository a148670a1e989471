// port-action/native/track, main stage: the start of the job, where the step stands.
require("../launcher.js").main(["track"]);
