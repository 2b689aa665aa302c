"""schemathesis over the app's own OpenAPI schema: no 5xx, responses match the schema, and data
that violates the schema gets a 4xx (shared/RELIABILITY.md row 21). Examples per operation are
bounded so the suite stays quick."""
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from service.config import Settings
from service.main import create_app

app = create_app(Settings(max_pairs=8, max_patches=8, max_keypoints=64))
schema = schemathesis.openapi.from_asgi("/openapi.json", app)


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms(case):
    # every default check (no 5xx, response schema and status conformance, negative data rejected)
    # except positive-data acceptance: the schema cannot say "these bytes decode as an image" or
    # "this string is JSON keypoints", so schema-valid random bytes rightly get 415 or 422
    case.call_and_validate(excluded_checks=[positive_data_acceptance])
