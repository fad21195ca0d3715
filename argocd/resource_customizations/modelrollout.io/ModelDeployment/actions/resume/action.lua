-- A one-shot request to the operator, the same the kubectl plugin writes for resume:
-- modelrollout.io/request: resume:<UTC time>-argocd (consumed once; see the README).
local os = require("os")
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
obj.metadata.annotations["modelrollout.io/request"] = "resume:" .. os.date("!%Y%m%dT%H%M%SZ") .. "-argocd"
return obj
