# The Python client generated from /v1/openapi.json (tests/it/openapi.rs) against a running
# kopilka: argv is the directory holding the generated package `client`, the base URL, the
# admin token.
import sys

sys.path.insert(0, sys.argv[1])

from client import AuthenticatedClient
from client.api.ecommpay import ecommpay_create_project, ecommpay_list_projects
from client.api.kupikupi import kupikupi_list
from client.api.loymax import loymax_create_application
from client.api.programs import programs_get, programs_list
from client.models import ErrorBody, NewApplication, ProjectInput

base, token = sys.argv[2], sys.argv[3]
api = AuthenticatedClient(base_url=base, token=token, raise_on_unexpected_status=True)

programs = programs_list.sync(client=api)
assert programs and programs[0].code == "demo", programs
program = programs_get.sync(id=programs[0].id, client=api)
assert program.rules is not None and program.name, program

missing = programs_get.sync_detailed(id=999999, client=api)
assert missing.status_code == 404 and isinstance(missing.parsed, ErrorBody), missing
assert missing.parsed.error.code == "not_found", missing.parsed

project = ecommpay_create_project.sync(
    client=api, body=ProjectInput(merchant_id=1, name="generated client")
)
assert project.secret and project.name == "generated client", project
listed = ecommpay_list_projects.sync(client=api)
assert any(p.project_id == project.project_id and not p.secret for p in listed), listed

application = loymax_create_application.sync(client=api, body=NewApplication(merchant_id=1))
assert application.client_id and application.client_secret, application

platforms = kupikupi_list.sync(client=api)
assert platforms and platforms[0].uid, platforms

stranger = AuthenticatedClient(base_url=base, token="not-the-admin-token")
refused = programs_list.sync_detailed(client=stranger)
assert refused.status_code == 401 and isinstance(refused.parsed, ErrorBody), refused
print("client ok")
