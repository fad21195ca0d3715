-- Argo CD health of a ModelDeployment, read from the status the operator writes.
-- Runs in Argo CD's sandbox (no string or math library): base functions only.
local hs = {}
local status = obj.status
local generation = tonumber(obj.metadata.generation)

-- A spec the operator has not acted on yet says nothing about health.
if status == nil or status.observedGeneration == nil
    or (generation ~= nil and tonumber(status.observedGeneration) < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to act on generation " .. tostring(generation)
  return hs
end

-- A spec the operator cannot act on (missing route, bad reference): nothing changes.
if status.conditions ~= nil then
  for _, condition in ipairs(status.conditions) do
    if condition.type == "InvalidSpec" and condition.status == "True" then
      hs.status = "Degraded"
      hs.message = condition.message
      return hs
    end
  end
end

local phase = status.phase
if phase == "Healthy" then
  hs.status = "Healthy"
elseif phase == "Paused" then
  hs.status = "Suspended" -- waits for a person, a passing measurement, or spec.paused
elseif phase == "Pending" and status.queue ~= nil then
  hs.status = "Suspended" -- waits for a rollout slot (the operator's limit at once)
elseif phase == "RolledBack" or phase == "Degraded" then
  hs.status = "Degraded"
else
  hs.status = "Progressing" -- Pending, Progressing
end
hs.message = status.message
return hs
