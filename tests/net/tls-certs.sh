#!/bin/sh
# Makes the TLS tests' certificates in DIR (which must exist), with the
# openssl command line (no private key is ever committed):
#   tls-certs.sh DIR
# Every key is ECDSA P-256. Files (certificate NAME.pem, its key NAME.key):
#   ca          the test CA (trust anchor: ca.pem)
#   server      "localhost", 127.0.0.1 and ::1 (subjectAltName), by the CA
#   sni         a second name for SNI: "alt.test" and "*.wild.test", by the CA
#   client      a client certificate (CN cio-test-client, clientAuth), by the CA
#   expired     "localhost" etc. as server, but valid 2020-01-01..2020-02-01
#   notyet      "localhost" etc. as server, but valid from 2099 on
#   wronghost   only "wrong.example", by the CA
#   otherca     a second CA that nobody trusts
#   unknownca   "localhost" etc. as server, signed by otherca
# Dates in the past come from `openssl ca -startdate/-enddate` (OpenSSL 3.0
# has no -not_before). Prints "certificates made in DIR" on success.
set -eu
dir=${1:?usage: tls-certs.sh DIR}
cd "$dir"
umask 077

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key" 2>/dev/null; }

cat >ca.cnf <<'EOF'
[ca]
default_ca = ca_default
[ca_default]
dir = .
database = ./index.txt
new_certs_dir = ./newcerts
serial = ./serial
certificate = ./ca.pem
private_key = ./ca.key
default_md = sha256
default_days = 30
policy = policy_any
unique_subject = no
copy_extensions = none
[policy_any]
commonName = supplied
[req]
distinguished_name = req_dn
prompt = no
[req_dn]
CN = unused
[ca_ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:localhost,IP:127.0.0.1,IP:::1
[sni_ext]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:alt.test,DNS:*.wild.test
[wrong_ext]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:wrong.example
[client_ext]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
EOF
mkdir -p newcerts
: >index.txt
echo 1000 >serial

# The CAs (self-signed).
for ca in ca otherca; do
    key $ca
    openssl req -config ca.cnf -new -x509 -key $ca.key -out $ca.pem -days 30 \
        -subj "/CN=cio test $ca" -extensions ca_ext 2>/dev/null
done

# sign NAME CN EXT [openssl ca date options]: NAME.key, NAME.pem by ca.
sign() {
    name=$1 cn=$2 ext=$3
    shift 3
    key "$name"
    openssl req -config ca.cnf -new -key "$name.key" -out "$name.csr" -subj "/CN=$cn" 2>/dev/null
    openssl ca -config ca.cnf -batch -notext -in "$name.csr" -out "$name.pem" \
        -extensions "$ext" "$@" 2>/dev/null
}
sign server localhost server_ext
sign sni alt.test sni_ext
sign client cio-test-client client_ext
sign wronghost wrong.example wrong_ext
sign expired localhost server_ext -startdate 20200101000000Z -enddate 20200201000000Z
sign notyet localhost server_ext -startdate 20990101000000Z -enddate 20991231000000Z

# A server certificate from the CA nobody trusts.
key unknownca
openssl req -config ca.cnf -new -key unknownca.key -out unknownca.csr -subj /CN=localhost 2>/dev/null
openssl x509 -req -in unknownca.csr -CA otherca.pem -CAkey otherca.key -CAcreateserial \
    -days 30 -sha256 -extfile ca.cnf -extensions server_ext -out unknownca.pem 2>/dev/null

# What each must be, checked here so that a test failing on a certificate
# never has a bad certificate as its cause.
openssl verify -CAfile ca.pem server.pem sni.pem client.pem wronghost.pem >/dev/null
if openssl verify -CAfile ca.pem expired.pem >/dev/null 2>&1; then
    echo "tls-certs.sh: expired.pem verifies" >&2
    exit 1
fi
if openssl verify -CAfile ca.pem unknownca.pem >/dev/null 2>&1; then
    echo "tls-certs.sh: unknownca.pem verifies against ca.pem" >&2
    exit 1
fi
openssl verify -CAfile otherca.pem unknownca.pem >/dev/null
rm -f ./*.csr
echo "certificates made in $dir"
