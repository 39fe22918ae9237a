# The smimesh control-plane image (`smimesh controller`, what `smimesh install`'s Deployment runs).
# Kept simple on purpose: it has never been built or run on the machines smimesh is developed on
# (no container runtime there), so nothing about it is tested. Build from the repository root:
#   docker build -t registry.example/smimesh:0.1.0 .
FROM python:3.11-slim
# iptables (nft and legacy) for the injected smimesh-capture init container, which runs this image too.
RUN apt-get update && apt-get install -y --no-install-recommends iptables && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir . && rm -rf /src
# The Deployment runs as this non-root user with a read-only root file system; state goes to an emptyDir.
USER 65532:65532
ENTRYPOINT ["smimesh"]
CMD ["controller"]
