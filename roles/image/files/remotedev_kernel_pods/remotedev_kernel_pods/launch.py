"""The kernelspec's argv: create the kernel pod, then leave.

gateway_provisioners' provisioner runs this in the server's pod with the
kernel's environment and the placeholders of the kernelspec's argv filled in
(--kernel-id, --response-address, --public-key, --port-range,
--transport-encryption). The pod comes from --pod-template (pod.json, next to
the kernelspec); only the launch's own values are added to it (see
remotedev_kernel_pods.LAUNCH_ENV). The kernel in the pod then sends its
connection info to the response address.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from remotedev_kernel_pods import LaunchError, kernel_pod

CREATE_ATTEMPTS = 30


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m remotedev_kernel_pods.launch", description=__doc__)
    parser.add_argument("--pod-template", required=True, help="pod.json of the kernelspec")
    parser.add_argument("--kernel-id", required=True)
    parser.add_argument("--response-address", required=True, metavar="IP:PORT")
    parser.add_argument("--public-key", required=True)
    parser.add_argument("--port-range", default="0..0")
    parser.add_argument("--transport-encryption", default="")
    return parser.parse_args(argv)


def launch_values(args, env):
    values = {
        "KERNEL_ID": args.kernel_id,
        "RESPONSE_ADDRESS": args.response_address,
        "PUBLIC_KEY": args.public_key,
        "PORT_RANGE": args.port_range,
        "TRANSPORT_ENCRYPTION": args.transport_encryption,
    }
    for key in ("KERNEL_LANGUAGE", "KERNEL_USERNAME", "KERNEL_NAME"):
        values[key] = env.get(key, "")
    return values


def main(argv=None) -> int:
    args = parse_args(argv)
    with open(args.pod_template, encoding="utf-8") as stream:
        template = json.load(stream)
    try:
        pod = kernel_pod(template, os.environ, launch_values(args, os.environ))
    except LaunchError as exc:
        print("remotedev_kernel_pods.launch: %s" % exc, file=sys.stderr)
        return 2
    from kubernetes import client, config  # pylint: disable=import-outside-toplevel
    from kubernetes.client.rest import ApiException  # pylint: disable=import-outside-toplevel

    config.load_incluster_config()
    api = client.CoreV1Api()
    for attempt in range(CREATE_ATTEMPTS):
        try:
            api.create_namespaced_pod(namespace=pod["metadata"]["namespace"], body=pod)
            break
        except ApiException as exc:
            # A restart: the kernel's previous pod (same name) is still being deleted.
            if exc.status != 409 or attempt == CREATE_ATTEMPTS - 1:
                raise
            time.sleep(1)
    print("remotedev_kernel_pods.launch: created pod %s/%s for kernel %s"
          % (pod["metadata"]["namespace"], pod["metadata"]["name"], args.kernel_id))
    return 0


if __name__ == "__main__":
    sys.exit(main())
