module modelrollout.io/hack/crds

// The upstream CustomResourceDefinitions the tests install, taken unchanged from the
// projects' own Go modules (go.sum verifies every download):
// Gateway API's standard channel (config/crd/standard/) and Istio's bundle
// (kubernetes/customresourcedefinitions.gen.yaml).

go 1.26.0

require (
	istio.io/api v1.30.3
	sigs.k8s.io/gateway-api v1.6.1
)
