#!/bin/sh
# Makes the TLS tests' certificates in directory $1 (made if missing), with
# the openssl command line; EC P-256 keys. Nothing here is committed:
#   ca.pem ca.key           the test CA
#   server.pem server.key   DNS:localhost, IP:127.0.0.1, IP:::1 (by ca)
#   other.pem other.key     DNS:other.test, DNS:*.wild.test (by ca)
#   expired.pem expired.key DNS:localhost, valid in 2020 only (by ca)
#   client.pem client.key   a client certificate (by ca)
#   ca2.pem ca2.key         another CA, unknown to the tests' clients
#   stranger.pem stranger.key  DNS:localhost, by ca2
set -e
d=$1
mkdir -p "$d"
cd "$d"
o() { openssl "$@" 2>/dev/null; }
key() { o genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }
ca() { # name subject
  key "$1.key"
  o req -x509 -new -key "$1.key" -subj "/CN=$2" -days 3650 -out "$1.pem" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
}
leaf() { # name ca san ext
  key "$1.key"
  o req -new -key "$1.key" -subj "/CN=$1" -out "$1.csr"
  printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=%s\n' "$3" "$4" > "$1.ext"
  o x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -CAcreateserial -days 365 \
    -extfile "$1.ext" -out "$1.pem"
}
ca ca "cio test CA"
ca ca2 "cio unknown CA"
leaf server ca "DNS:localhost,IP:127.0.0.1,IP:::1" serverAuth
leaf other ca "DNS:other.test,DNS:*.wild.test" serverAuth
leaf client ca "DNS:client.test" clientAuth
leaf stranger ca2 "DNS:localhost,IP:127.0.0.1" serverAuth
# Expired: openssl ca with dates in the past.
key expired.key
o req -new -key expired.key -subj "/CN=expired" -out expired.csr
mkdir -p cadb
: > cadb/index.txt
echo 1000 > cadb/serial
cat > ca.cnf <<CNF
[ ca ]
default_ca = c
[ c ]
dir = cadb
database = cadb/index.txt
serial = cadb/serial
new_certs_dir = cadb
certificate = ca.pem
private_key = ca.key
default_md = sha256
policy = p
copy_extensions = none
x509_extensions = x
[ p ]
commonName = supplied
[ x ]
basicConstraints = CA:FALSE
subjectAltName = DNS:localhost,IP:127.0.0.1
extendedKeyUsage = serverAuth
CNF
o ca -batch -config ca.cnf -in expired.csr -out expired.pem \
  -startdate 20200101000000Z -enddate 20200102000000Z
test -s expired.pem
