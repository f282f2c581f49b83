// The credentials of the worker port: a private CA, the server's certificate
// and one worker certificate, made by `serve` the first time it needs them.
//
//   DIR/            mode 0700   (default: <folder of the token file>/credentials)
//     server/ca.pem cert.pem key.pem    the server's side (files 0600)
//     worker/ca.pem cert.pem key.pem    the worker credential: copy this folder
//
// Both certificates are signed by the CA (EC P-256, ten years); the server's
// may only serve (extendedKeyUsage serverAuth), the worker's may only be a
// client (clientAuth), so neither can stand in for the other. The CA's
// private key is never written: nothing more is ever signed, and deleting DIR
// is how one starts over (copied worker credentials stop working).
#pragma once

#include <string>

#include "dairector/result.hpp"

namespace dairector::cli {

/// One side's PEM files. Those the functions below return are private
/// in-memory copies of the checked files (/proc/self/fd/N), because CAF loads
/// them again for every connection and ends the process if it cannot.
struct tls_files {
  std::string ca, cert, key;
};

/// The credentials folder beside a token file (`token_file` empty: the
/// default one): <its folder>/credentials. Empty when there is no default.
std::string default_credentials_dir(const std::string& token_file);

/// `serve`: the server side of `dir`, which is made (complete, or not at all)
/// when it does not exist. Refused: an incomplete folder, a key file that
/// group or others may read, files that are not a key and its certificate.
result<tls_files> server_credentials(const std::string& dir);

/// `worker`: the folder holding ca.pem, cert.pem and key.pem (the server's
/// worker/, or a copy of it). Same refusals; never made here.
result<tls_files> worker_credentials(const std::string& dir);

/// --tls-cert/--tls-key/--tls-ca: each file readable and what it says it is
/// (a certificate, a key matching it, a CA certificate).
result<tls_files> own_credentials(tls_files files);

}  // namespace dairector::cli
