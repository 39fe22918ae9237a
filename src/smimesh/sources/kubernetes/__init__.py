"""The Kubernetes source: everything smimesh reads from (and, as lease holder, writes to) an API server.

- `kubeconfig.load_cluster(path, context)` / in-cluster config -> `ClusterConfig`;
- `client.KubeClient`: a small async client on httpx (list, watch lines, get/create/replace/patch/delete,
  TokenReview); errors are `KubeApiError` with the Status' code, reason and message;
- `informer.Informer`: list, then watch from the list's resourceVersion with bookmarks; on 410 relist
  and diff (objects deleted during the gap are deleted here), back-off on errors, never an event lost;
- `cluster`: pure translation of Pods, EndpointSlices, Namespaces into mesh `Instance`s and modes;
- `source.KubernetesSource`: the informers of every kind smimesh watches, feeding the same
  `ResourceStore` as the file source (SMI kinds and Services) and the pipeline's instances.
"""
