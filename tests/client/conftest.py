from tests.client.fixtures import local_platform, tiny_server  # noqa: F401
