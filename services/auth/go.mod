module tsbank/services/auth

go 1.26.0

require (
	github.com/jackc/pgx/v5 v5.12.0
	github.com/nats-io/jwt/v2 v2.8.2
	github.com/nats-io/nats-server/v2 v2.15.2
	github.com/nats-io/nats.go v1.55.0
	github.com/nats-io/nkeys v0.4.16
	golang.org/x/crypto v0.58.0
	tsbank/contract v0.0.0
	tsbank/platform v0.0.0
	tsbank/testkit v0.0.0-00010101000000-000000000000
)

replace (
	tsbank/contract => ../../contract
	tsbank/migrations => ../../migrations
	tsbank/platform => ../../platform
	tsbank/testkit => ../../testkit
)
