# The Higress plugin image: the filter as plugin.wasm at the image root, nothing else (Higress pulls
# WasmPlugin images from an OCI registry and reads plugin.wasm from them).
#
#   npm run build
#   docker build -t registry.example.com/ai-failover:0.1.0 .
#   docker push registry.example.com/ai-failover:0.1.0
#
# The same module runs on upstream Envoy (it reads ABI 0_2_0) and Higress (0_2_100): see docs/deploy-higress.md, "Body mode on Higress".
# For clusterLimits.redis, the Higress build (Higress's Redis calls; it does not load in upstream Envoy):
#   docker build --build-arg WASM=build/ai-failover-higress.wasm -t registry.example.com/ai-failover:0.1.0-higress .
FROM scratch
ARG WASM=build/ai-failover.wasm
COPY ${WASM} ./plugin.wasm
