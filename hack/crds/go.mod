module modelrollout.io/hack/crds

// The upstream CustomResourceDefinitions the tests install, taken unchanged from the
// projects' own Go modules (go.sum verifies every download):
// Gateway API's standard channel (config/crd/standard/), Istio's bundle
// (kubernetes/customresourcedefinitions.gen.yaml) and the Gateway API Inference
// Extension's InferencePool (config/crd/bases/).

go 1.26.0

require (
	istio.io/api v1.30.3
	sigs.k8s.io/gateway-api v1.6.1
	sigs.k8s.io/gateway-api-inference-extension v1.6.2
)
