-- The actions that make sense now: the same rules as `kubectl modelrollout`
-- (modelrollout.cli.requests.refusal); a unit test holds the two in agreement.
local status = obj.status or {}
local rolling = status.canary ~= nil
local paused = status.phase == "Paused"
local actions = {}
actions["promote"] = {["disabled"] = not rolling}
actions["promote-full"] = {["disabled"] = not rolling}
actions["abort"] = {["disabled"] = not rolling}
actions["pause"] = {["disabled"] = not rolling or paused}
actions["resume"] = {["disabled"] = not (rolling and paused)}
actions["retry"] = {["disabled"] = not (status.phase == "RolledBack" and status.abortedRevision ~= nil)}
return actions
