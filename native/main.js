// port-action/native: one step of the root action (same inputs and outputs as port-action).
require("./launcher.js").main([]);
