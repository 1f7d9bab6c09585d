# One Dockerfile for every TSBank image: a build stage compiles every command into static
# binaries from the vendored modules (`go work vendor`, run by deploy/build-images.sh, so the build
# needs no network), and one small stage per service copies its binary onto an empty image and
# runs it as an unprivileged user. The binaries have their own health check subcommands, so the
# images need no shell.
#
#   docker build --target account -t tsbank/account .
FROM golang:1.26-bookworm AS build
# deploy/build-images.sh keeps the newest untagged build stage (the next build's cache) and
# removes older ones, and images a rebuild has replaced, by these labels.
LABEL tsbank.stage=build
WORKDIR /src
COPY . .
RUN CGO_ENABLED=0 GOFLAGS=-mod=vendor go build -trimpath -ldflags='-s -w' -o /out/ \
      ./services/account/cmd/account ./services/coordinator/cmd/coordinator \
      ./services/history/cmd/history ./services/auth/cmd/auth ./services/observer/cmd/observer ./cmd/natsd ./cmd/tsbankctl

FROM scratch AS account
LABEL tsbank.stage=service
COPY --from=build /out/account /account
USER 65532:65532
ENTRYPOINT ["/account"]

FROM scratch AS coordinator
LABEL tsbank.stage=service
COPY --from=build /out/coordinator /coordinator
USER 65532:65532
ENTRYPOINT ["/coordinator"]

FROM scratch AS history
LABEL tsbank.stage=service
COPY --from=build /out/history /history
USER 65532:65532
ENTRYPOINT ["/history"]

FROM scratch AS observer
LABEL tsbank.stage=service
COPY --from=build /out/observer /observer
USER 65532:65532
ENTRYPOINT ["/observer"]

FROM scratch AS auth
LABEL tsbank.stage=service
COPY --from=build /out/auth /auth
USER 65532:65532
ENTRYPOINT ["/auth"]

FROM scratch AS tsbankctl
LABEL tsbank.stage=service
COPY --from=build /out/tsbankctl /tsbankctl
USER 65532:65532
ENTRYPOINT ["/tsbankctl"]

# NATS keeps its JetStream files in /data, a volume the unprivileged user must own: the stage
# makes the directory with that owner, and a new named volume takes it over.
FROM scratch AS nats
LABEL tsbank.stage=service
COPY --from=build /out/natsd /natsd
COPY --from=build --chown=65532:65532 /tmp /data
COPY deploy/nats/nats.conf /etc/nats/nats.conf
USER 65532:65532
EXPOSE 4222 8222
ENTRYPOINT ["/natsd"]
CMD ["-c", "/etc/nats/nats.conf"]
