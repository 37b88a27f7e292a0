#!/usr/bin/env bash
# Makes what the reference Mosquitto needs for a lab, in ./lab (never committed): a CA, a server
# certificate for the broker's host names, and a password for the server, the dashboard, an
# operator and each device id given. Safe to run again: what exists is kept, what is missing is
# added (run it again with a new device id to add that device). It creates files only: it builds,
# downloads and starts nothing.
#
#   ./lab-setup.sh [--host NAME]... [DEVICE_ID]...
#     --host NAME   a name (or IP address) devices use to reach the broker; repeat for several.
#                   Default: localhost. Used only when the server certificate is first made.
#   LAB_DIR=/some/dir ./lab-setup.sh ...   writes there instead of ./lab
#
# New passwords are appended to lab/credentials.txt (mode 0600) and printed once.
set -euo pipefail
umask 077

here="$(cd "$(dirname "$0")" && pwd)"
lab="${LAB_DIR:-$here/lab}"
days="${LAB_DAYS:-825}"
hosts=()
devices=()
while [ $# -gt 0 ]; do
	case "$1" in
		--host) [ $# -ge 2 ] || { echo "lab-setup: --host needs a name" >&2; exit 2; }; hosts+=("$2"); shift 2 ;;
		--host=*) hosts+=("${1#--host=}"); shift ;;
		-h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
		-*) echo "lab-setup: unknown option $1" >&2; exit 2 ;;
		*) devices+=("$1"); shift ;;
	esac
done
[ ${#hosts[@]} -gt 0 ] || hosts=(localhost)

for tool in openssl mosquitto_passwd; do
	command -v "$tool" >/dev/null 2>&1 || { echo "lab-setup: $tool is not installed (apt-get install openssl mosquitto)" >&2; exit 1; }
done
reserved=" nightlight-server nightlight-dashboard nightlight-operator homeassistant "
for id in "${devices[@]}"; do
	[[ "$id" =~ ^[A-Za-z0-9_.-]{1,64}$ ]] || { echo "lab-setup: device id \"$id\" must be 1..64 letters, digits, _ . or -" >&2; exit 2; }
	[[ "$reserved" != *" $id "* ]] || { echo "lab-setup: \"$id\" is reserved for a service credential; choose another device id" >&2; exit 2; }
done

mkdir -p "$lab"

# Each lab's CA gets a name of its own, so that clients never take one lab's CA for another's.
if [ ! -f "$lab/ca.crt" ]; then
	openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 \
		-keyout "$lab/ca.key" -out "$lab/ca.crt" -subj "/CN=nightlight lab CA $(openssl rand -hex 4)" \
		-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
	echo "lab-setup: made the CA: $lab/ca.crt (give it to clients: --ca, or ca.der on Moddable)"
fi
# The Moddable SDK's TLS takes the CA in DER.
[ -f "$lab/ca.der" ] || openssl x509 -in "$lab/ca.crt" -outform der -out "$lab/ca.der"

if [ ! -f "$lab/server.crt" ]; then
	san=""
	for name in "${hosts[@]}"; do
		if [[ "$name" =~ ^[0-9.]+$ || "$name" == *:* ]]; then entry="IP:$name"; else entry="DNS:$name"; fi
		san="${san:+$san,}$entry"
	done
	cat > "$lab/server.ext" <<-EOF
		basicConstraints=CA:FALSE
		keyUsage=critical,digitalSignature,keyEncipherment
		extendedKeyUsage=serverAuth
		subjectAltName=$san
	EOF
	openssl req -newkey rsa:2048 -nodes -sha256 -keyout "$lab/server.key" -out "$lab/server.csr" -subj "/CN=${hosts[0]}" 2>/dev/null
	openssl x509 -req -in "$lab/server.csr" -CA "$lab/ca.crt" -CAkey "$lab/ca.key" -CAcreateserial \
		-days "$days" -sha256 -extfile "$lab/server.ext" -out "$lab/server.crt" 2>/dev/null
	rm -f "$lab/server.csr" "$lab/server.ext"
	echo "lab-setup: made the broker's certificate for $san: $lab/server.crt"
fi

# Certificates are public; keys and passwords stay 0600.
chmod 644 "$lab/ca.crt" "$lab/ca.der" "$lab/server.crt"

touch "$lab/passwd" "$lab/credentials.txt"
chmod 600 "$lab/passwd" "$lab/credentials.txt"
made=()
for user in nightlight-server nightlight-dashboard nightlight-operator homeassistant "${devices[@]}"; do
	if grep -q "^$user:" "$lab/passwd"; then
		continue
	fi
	password="$(openssl rand -base64 24 | tr -d '/+=\n' | cut -c1-24)"
	mosquitto_passwd -b "$lab/passwd" "$user" "$password"
	echo "$user $password" >> "$lab/credentials.txt"
	made+=("$user $password")
done
if [ ${#made[@]} -gt 0 ]; then
	echo "lab-setup: new credentials (user password), also in $lab/credentials.txt (0600):"
	printf '  %s\n' "${made[@]}"
else
	echo "lab-setup: nothing new; credentials are in $lab/credentials.txt"
fi
