"""Another application's objects, as a busy cluster has them: what the operator must
never be sent (its watches select what is ours)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from kubernetes import client

from testenv.operator import OperatorProcess

EVENTS = "modelrollout_watch_events_total"


def foreign_events(operator: OperatorProcess, resources: tuple[str, ...]) -> float:
    """What the operator's watches of `resources` delivered of objects not ours."""
    return sum(operator.metric(f'{EVENTS}{{ours="false",resource="{r}"}}') for r in resources)


def unrelated(api: client.ApiClient, namespace: str, start: int, count: int) -> None:
    """`count` each of Deployments (no pods), Services without a selector, and
    EndpointSlices of those Services, as another application keeps them."""
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    discovery = client.DiscoveryV1Api(api)
    labels = {"app": "shop"}

    def make(i: int) -> None:
        name = f"shop-{i}"
        meta = client.V1ObjectMeta(name=name, labels=labels)
        template = client.V1PodTemplateSpec(
            metadata=client.V1ObjectMeta(labels=labels),
            spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="shop")]),
        )
        selector = client.V1LabelSelector(match_labels=labels)
        spec = client.V1DeploymentSpec(replicas=0, selector=selector, template=template)
        apps.create_namespaced_deployment(namespace, client.V1Deployment(metadata=meta, spec=spec))
        ports = [client.V1ServicePort(port=80)]
        core.create_namespaced_service(
            namespace, client.V1Service(metadata=meta, spec=client.V1ServiceSpec(ports=ports))
        )
        piece = client.V1EndpointSlice(
            metadata=client.V1ObjectMeta(
                name=name, labels={**labels, "kubernetes.io/service-name": name}
            ),
            address_type="IPv4",
            endpoints=[client.V1Endpoint(addresses=[f"10.1.{i // 250}.{i % 250 + 1}"])],
            ports=[client.DiscoveryV1EndpointPort(port=80)],
        )
        discovery.create_namespaced_endpoint_slice(namespace, piece)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(make, range(start, start + count)))
