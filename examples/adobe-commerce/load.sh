#!/usr/bin/env bash
# Loads the Adobe Commerce event catalog (events/*.json) into a hookgate gateway.
#
#   load.sh <gateway-url> <admin-token> <target-base-url>
#
# Each file events/<event-id>.json is PUT to <gateway-url>/v1/admin/events/<event-id> after
# `{{TARGET_BASE}}` in it is replaced by <target-base-url> (without a trailing `/`), so every
# event is delivered to <target-base-url>/<entity>/<event-id>.
#
# Reads nothing from stdin. Stops with a non-zero exit status at the first answer that is not
# 2xx (or when the gateway cannot be reached), printing the gateway's answer on stderr.
set -euo pipefail

usage() {
    echo "usage: $0 <gateway-url> <admin-token> <target-base-url>" >&2
    exit 2
}

[ "$#" -eq 3 ] || usage
gateway="${1%/}"
token="$2"
base="${3%/}"
[ -n "$gateway" ] && [ -n "$token" ] && [ -n "$base" ] || usage

case "$base" in
    http://* | https://*) ;;
    *) echo "target base URL must start with http:// or https://: $base" >&2; exit 2 ;;
esac
# The base goes into a JSON string and a URL template: keep it free of what would change them.
case "$base" in
    *'#'* | *'"'* | *'\'* | *' '*)
        echo "target base URL must not contain '#', '\"', '\\' or spaces: $base" >&2
        exit 2
        ;;
esac

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
shopt -s nullglob
files=("$here"/events/*.json)
if [ "${#files[@]}" -eq 0 ]; then
    echo "no event configurations in $here/events" >&2
    exit 1
fi

answer="$(mktemp)"
trap 'rm -f "$answer"' EXIT

for file in "${files[@]}"; do
    event="$(basename "$file" .json)"
    config="$(<"$file")"
    config="${config//"{{TARGET_BASE}}"/"$base"}"
    if ! status="$(curl --silent --show-error --max-time 30 --connect-timeout 10 \
        --output "$answer" --write-out '%{http_code}' \
        --request PUT \
        --header "Authorization: Bearer $token" \
        --header 'content-type: application/json' \
        --data-binary "$config" \
        "$gateway/v1/admin/events/$event" </dev/null)"; then
        echo "PUT $event: the gateway at $gateway could not be reached" >&2
        exit 1
    fi
    case "$status" in
        2??) echo "loaded $event (HTTP $status)" ;;
        *)
            echo "PUT $event: HTTP $status: $(cat "$answer")" >&2
            exit 1
            ;;
    esac
done
echo "loaded ${#files[@]} events"
