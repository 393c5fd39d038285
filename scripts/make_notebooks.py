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
# Only for this demo: break one piece on purpose on the local CodeArtifact stand-in, so each failure below
# shows up. On SageMaker there is no stand-in: run this cell anyway, it then does nothing, and the checks
# below show your own set-up as it is.
import json, os, urllib.request

def standin_fault(name=None, **params):
    control = os.environ.get("CA_LOGIN_DEMO_STANDIN_CONTROL")
    if control is None:
        return
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
            new_markdown_cell(
                "`%load_ext ca_login` renews the token before any cell that runs pip when it has less than an "
                "hour left, and adds the `%ca_login` magic (`%ca_login status`, `%ca_login diagnose`)."
            ),
            new_code_cell("%load_ext ca_login\nimport ca_login\n\nresult = ca_login.login()\nresult"),
            new_markdown_cell(
                "pip now installs from the CodeArtifact repository (the token never shows: it is masked)."
            ),
            new_code_cell("%pip install --no-cache-dir ca-demo-pkg"),
            new_code_cell("import ca_demo_pkg\n\nca_demo_pkg.greet()"),
            new_markdown_cell("When does the token expire, and does pip use it?"),
            new_code_cell("status = ca_login.status()\nassert status.ok\nstatus"),
            new_code_cell("%ca_login status"),
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
                "Below, each failure is played on a local stand-in for CodeArtifact, one at a time."
            ),
            new_code_cell(STANDIN_HELPER),
            new_markdown_cell("## Everything in place"),
            new_code_cell(
                "import ca_login\n\nca_login.login()\nhealthy = ca_login.diagnose()\nassert healthy.ok\nhealthy"
            ),
            new_markdown_cell(
                "## The role has no IAM policy for CodeArtifact\n\n"
                "The endpoint exists, but the call is denied."
            ),
            new_code_cell(
                'standin_fault("access-denied-identity", operation="GetAuthorizationToken")\n'
                "d = ca_login.diagnose()\n"
                "d"
            ),
            new_markdown_cell("## The VPC endpoint's policy denies the call"),
            new_code_cell(
                'standin_fault()\nstandin_fault("access-denied-vpc-endpoint", operation="GetAuthorizationToken")\n'
                "d = ca_login.diagnose()\n"
                "d"
            ),
            new_markdown_cell(
                "## The repository refuses the token (its policy lacks `codeartifact:ReadFromRepository`)"
            ),
            new_code_cell(
                'standin_fault()\nstandin_fault("repo-403", operation="repository")\n'
                "d = ca_login.diagnose()\n"
                "d"
            ),
            new_markdown_cell("## The same as JSON, for scripts"),
            new_code_cell("standin_fault()\nprint(ca_login.diagnose().to_json())"),
        ],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    )


def lifetime_and_extension():
    return new_notebook(
        cells=[
            new_markdown_cell(
                "# The token's lifetime and the `%ca_login` extension\n\n"
                "A CodeArtifact token lives 12 hours at most. In a kernel that runs longer, pip starts failing with "
                "`401 ... No matching distribution` once it expires. `%load_ext ca_login` renews it before any cell "
                "that runs pip, when less than an hour is left; every other cell costs nothing."
            ),
            new_code_cell("%load_ext ca_login\nimport ca_login\n\nca_login.login()"),
            new_markdown_cell(
                "`status()` says whether pip will use the token: `ok` is true only when the token is valid and "
                "nothing else (a `PIP_INDEX_URL`, another pip file) wins."
            ),
            new_code_cell("st = ca_login.status()\nprint(st.ok, st.remaining)\nst"),
            new_markdown_cell(
                "`ensure_login()` logs in only when the token is close to expiring; here it is fresh, so no call "
                "is made."
            ),
            new_code_cell("ca_login.ensure_login(min_remaining=3600)"),
            new_markdown_cell(
                "The magic takes the CLI's flags. A background refresher keeps the token fresh without any cell "
                "running; stop it when you are done."
            ),
            new_code_cell("%ca_login refresh"),
            new_code_cell("%ca_login refresh --stop"),
            new_markdown_cell(
                "A cell that runs pip: the extension checks the token first (fresh: nothing to do)."
            ),
            new_code_cell("%pip install --no-cache-dir ca-demo-pkg"),
            new_markdown_cell("`logout()` puts pip's configuration back as it was before the first login."),
            new_code_cell("%ca_login logout"),
        ],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    )


def main():
    OUT.mkdir(exist_ok=True)
    nbformat.write(quickstart(), OUT / "01-quickstart.ipynb")
    nbformat.write(when_pip_hangs(), OUT / "02-when-pip-hangs.ipynb")
    nbformat.write(lifetime_and_extension(), OUT / "03-lifetime-and-extension.ipynb")


if __name__ == "__main__":
    main()
