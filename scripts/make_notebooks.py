"""Writes notebooks/*.ipynb from the cells below (outputs empty). Run after editing: `python scripts/make_notebooks.py`.

The notebooks talk to whatever CodeArtifact their environment points at: on SageMaker, the real one (settings from
the ca-login config the lifecycle script wrote); in the tests, the local stand-in (settings from environment
variables set by tests/test_notebooks.py).
"""

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

OUT = Path(__file__).resolve().parent.parent / "notebooks"

STANDIN_HELPER = """\
# Only for this demo: switch a fault on the local CodeArtifact stand-in, to play the seed's failures.
# (On SageMaker there is no stand-in; skip this cell.)
import json, os, urllib.request

def standin_fault(name=None, **params):
    control = os.environ["CA_LOGIN_DEMO_STANDIN_CONTROL"]
    if name is None:
        req = urllib.request.Request(control + "/fault", method="DELETE")
    else:
        body = json.dumps({"name": name, "params": params}).encode()
        req = urllib.request.Request(control + "/fault", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=5).read()
"""


def quickstart():
    return new_notebook(
        cells=[
            new_markdown_cell(
                "# ca_login quick start\n\n"
                "Log pip in to AWS CodeArtifact from a notebook cell, install a package through it, and see when the "
                "token expires.\n\n"
                "On a SageMaker notebook instance configured by `ca-login lifecycle-script`, `ca_login.login()` needs "
                "no arguments: the domain, account and repository come from `~/.config/ca-login/config` and the "
                "credentials from the notebook's execution role. Otherwise pass them: "
                '`ca_login.login("mydomain", "isolatedsm", domain_owner="111122223333")`.'
            ),
            new_code_cell("import ca_login\n\nresult = ca_login.login()\nresult"),
            new_markdown_cell(
                "pip now installs from the CodeArtifact repository (the token never shows: it is masked)."
            ),
            new_code_cell("%pip install --no-cache-dir ca-demo-pkg"),
            new_code_cell("import ca_demo_pkg\n\nca_demo_pkg.greet()"),
            new_markdown_cell("When does the token expire, and does pip use it?"),
            new_code_cell("status = ca_login.status()\nassert status.valid\nstatus"),
            new_markdown_cell(
                "In a long-lived kernel, `ensure_login()` logs in again only when the token is close to expiring "
                "(no network call otherwise), and `start_refresh()` keeps it fresh in the background."
            ),
            new_code_cell("again = ca_login.ensure_login(min_remaining=3600)\nagain"),
        ],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    )


def when_pip_hangs():
    return new_notebook(
        cells=[
            new_markdown_cell(
                "# When pip hangs: `ca_login.diagnose()`\n\n"
                "In an isolated subnet, a missing piece shows as `pip install` hanging for minutes or a bare "
                "`AccessDenied`. `diagnose()` checks each layer (configuration, credentials, DNS, TCP, TLS, the two "
                "CodeArtifact calls, a repository read, pip's own config) within seconds and names the broken piece "
                "with the exact fix.\n\n"
                "This notebook plays the seed's failures on the local stand-in."
            ),
            new_code_cell(STANDIN_HELPER),
            new_markdown_cell("## Everything in place"),
            new_code_cell(
                "import ca_login\n\nca_login.login()\nhealthy = ca_login.diagnose()\nassert healthy.ok\nhealthy"
            ),
            new_markdown_cell(
                "## The role has no IAM policy for CodeArtifact\n\n"
                "The seed's second stage: the endpoint exists, but the call is denied."
            ),
            new_code_cell(
                'standin_fault("access-denied-identity", operation="GetAuthorizationToken")\n'
                "d = ca_login.diagnose()\n"
                'assert d.verdict.cause == "access-denied-identity-policy"\n'
                "print(d.verdict.remedy)\nd"
            ),
            new_markdown_cell("## The VPC endpoint's policy denies the call"),
            new_code_cell(
                'standin_fault()\nstandin_fault("access-denied-vpc-endpoint", operation="GetAuthorizationToken")\n'
                "d = ca_login.diagnose()\n"
                'assert d.verdict.cause == "access-denied-vpc-endpoint-policy"\n'
                "d"
            ),
            new_markdown_cell(
                "## The repository refuses the token (its policy lacks `codeartifact:ReadFromRepository`)"
            ),
            new_code_cell(
                'standin_fault()\nstandin_fault("repo-403", operation="repository")\n'
                "d = ca_login.diagnose()\n"
                'assert d.verdict.cause == "repository-forbidden"\n'
                "d"
            ),
            new_markdown_cell("## The same as JSON, for scripts"),
            new_code_cell("standin_fault()\nprint(ca_login.diagnose().to_json())"),
        ],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    )


def main():
    OUT.mkdir(exist_ok=True)
    nbformat.write(quickstart(), OUT / "01-quickstart.ipynb")
    nbformat.write(when_pip_hangs(), OUT / "02-when-pip-hangs.ipynb")


if __name__ == "__main__":
    main()
