#!/usr/bin/env bash
# Renders deploy/service.yaml for one deploy on stdout: fills each ${NAME} from the environment, then sets the traffic.
# Required: PROJECT_ID REGION IMAGE SERVICE_ACCOUNT VPC_CONNECTOR AUTH_SERVICE_URL ALLOWED_ORIGINS.
# Optional: SERVICE (agent-event-gateway), REVISION_SUFFIX (UTC time), CANDIDATE_OF (see below).
# Without CANDIDATE_OF the new revision takes all traffic. With CANDIDATE_OF=<revision now serving>, that revision
# keeps 100 % and the new one gets 0 % under the tag `candidate`, for the e2e suite to test before traffic moves.
set -euo pipefail
cd "$(dirname "$0")"
SERVICE=${SERVICE:-agent-event-gateway}
REVISION_SUFFIX=${REVISION_SUFFIX:-$(date -u +%Y%m%d-%H%M%S)}
required=(PROJECT_ID REGION IMAGE SERVICE_ACCOUNT VPC_CONNECTOR AUTH_SERVICE_URL ALLOWED_ORIGINS)
for name in "${required[@]}"; do
  if [ -z "${!name:-}" ]; then echo "render: $name is required" >&2; exit 2; fi
done
if ! [[ $REVISION_SUFFIX =~ ^[a-z0-9]([a-z0-9-]*[a-z0-9])?$ ]]; then
  echo "render: REVISION_SUFFIX must be lowercase letters, digits and inner hyphens (got $REVISION_SUFFIX)" >&2; exit 2
fi

out=$(cat service.yaml)
for name in SERVICE REVISION_SUFFIX "${required[@]}"; do
  out=${out//"\${$name}"/${!name}}
done
if grep -q '\${' <<<"$out"; then
  echo "render: placeholders left unfilled: $(grep -o '\${[A-Z_]*}' <<<"$out" | sort -u | tr '\n' ' ')" >&2; exit 2
fi

printf '%s\n  traffic:\n' "$out"
if [ -n "${CANDIDATE_OF:-}" ]; then
  printf '    - revisionName: %s\n      percent: 100\n' "$CANDIDATE_OF"
  printf '    - revisionName: %s-%s\n      tag: candidate\n      percent: 0\n' "$SERVICE" "$REVISION_SUFFIX"
else
  printf '    - latestRevision: true\n      percent: 100\n'
fi
