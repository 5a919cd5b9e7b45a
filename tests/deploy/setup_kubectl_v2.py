"""Unpacks Debian 12's kubectl (package kubernetes-client 1.20, whose `kubectl kustomize` is
kustomize v2) into a directory of the build tree, once, so that deploy_k8s can check that
every kustomization renders with it as with the current kubectl (KUBECTL_V2).

    setup_kubectl_v2.py DEST_DIR

`apt-get download` fetches the package without installing it (it would replace the kubectl
on PATH). Exits 77 (ctest's skip) when the package cannot be had or is not a 1.20.
"""

import os
import re
import subprocess
import sys
import tempfile

SKIPPED = 77
PACKAGE = 'kubernetes-client'


def kubectl_minor(kubectl):
    """The client's minor version, or None if it does not run."""
    try:
        done = subprocess.run([kubectl, 'version', '--client'], capture_output=True,
                              text=True, timeout=30)
    except OSError:
        return None
    found = re.search(r'Minor:"(\d+)', done.stdout) or re.search(r'v1\.(\d+)\.', done.stdout)
    return int(found.group(1)) if done.returncode == 0 and found else None


def main(dest):
    kubectl = os.path.join(dest, 'usr', 'bin', 'kubectl')
    minor = kubectl_minor(kubectl)
    if minor is not None:
        print(f'{kubectl} (1.{minor}) is there')
        return 0 if minor <= 20 else SKIPPED
    os.makedirs(dest, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run(['apt-get', 'download', PACKAGE], cwd=tmp, capture_output=True,
                              text=True, timeout=600)
        debs = [f for f in os.listdir(tmp) if f.endswith('.deb')]
        if done.returncode != 0 or not debs:
            print(f'SKIPPED: apt-get download {PACKAGE} failed ({done.returncode}): '
                  f'{done.stderr.strip()}\nthe kustomize v2 rendering is not checked',
                  file=sys.stderr)
            return SKIPPED
        subprocess.run(['dpkg-deb', '-x', os.path.join(tmp, debs[0]), dest], check=True,
                       timeout=120)
    minor = kubectl_minor(kubectl)
    if minor is None or minor > 20:
        print(f'SKIPPED: {debs[0]} holds kubectl 1.{minor}, not 1.20 (kustomize v2)',
              file=sys.stderr)
        return SKIPPED
    print(f'unpacked {debs[0]} into {dest}')
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1]))
