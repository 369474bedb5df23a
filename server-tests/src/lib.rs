//! forze's integration tests against real Postgres and Redis, through the runtime (see
//! `tests/`). They use `FORZE_TEST_POSTGRES_URL` / `FORZE_TEST_REDIS_URL`, or the ephemeral
//! servers `forze-services` starts (`just test`). Nothing here is a library.
