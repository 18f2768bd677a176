// Linked into every binary that may speak TLS through gRPC (the newsdedup
// tool and the tests); it has no interface, only this initialiser.
//
// gRPC 1.51 initialises OpenSSL, which registers an atexit handler that
// frees OpenSSL's global state. At exit that handler can run while gRPC's
// threads still use OpenSSL, after a failed TLS handshake above all, and a
// process whose work is done dies with SIGSEGV or "double free" (one run of
// AccessTest.TlsAndMutualTls in ten clean-clone suites; grpc/grpc#38539,
// fixed in gRPC 1.83 by this same call). OpenSSL keeps the choice of its
// first initialisation: made here, before main, without the handler, its
// memory is left to the end of the process.
#include <openssl/crypto.h>

namespace {

[[maybe_unused]] const int kOpenSslWithoutAtexit =
    OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, nullptr);

}  // namespace
