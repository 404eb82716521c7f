// Verifies conformance cases with Go's crypto/x509 as Go's TLS client does (tests/conformance/judges.py).
// One case a line on stdin, tab-separated: id, peer name, validation time (Unix seconds, or "-" for now),
// leaf, intermediates and roots (hex DER, comma-separated). One answer a line on stdout: id, "ok" or
// "fail", the error. Standard library only: it builds offline.
package main

import (
	"bufio"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

func certs(field string) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for _, item := range strings.Split(field, ",") {
		if item == "" {
			continue
		}
		der, err := hex.DecodeString(item)
		if err != nil {
			return nil, err
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, err
		}
		out = append(out, cert)
	}
	return out, nil
}

func verify(fields []string) error {
	leaf, err := certs(fields[3])
	if err != nil || len(leaf) != 1 {
		return fmt.Errorf("leaf: %v", err)
	}
	intermediates, err := certs(fields[4])
	if err != nil {
		return fmt.Errorf("intermediate: %v", err) // crypto/tls fails the handshake on any unparsable certificate
	}
	opts := x509.VerifyOptions{DNSName: fields[1], Roots: x509.NewCertPool(), Intermediates: x509.NewCertPool(),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	for _, item := range strings.Split(fields[5], ",") {
		// Like CertPool.AppendCertsFromPEM, a root that does not parse is left out of the pool.
		if der, err := hex.DecodeString(item); err == nil {
			if root, err := x509.ParseCertificate(der); err == nil {
				opts.Roots.AddCert(root)
			}
		}
	}
	for _, cert := range intermediates {
		opts.Intermediates.AddCert(cert)
	}
	if fields[2] != "-" {
		seconds, err := strconv.ParseInt(fields[2], 10, 64)
		if err != nil {
			return err
		}
		opts.CurrentTime = time.Unix(seconds, 0)
	}
	_, err = leaf[0].Verify(opts)
	return err
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<26)
	for in.Scan() {
		fields := strings.Split(in.Text(), "\t")
		if len(fields) != 6 {
			fmt.Fprintln(os.Stderr, "bad input line")
			os.Exit(2)
		}
		if err := verify(fields); err != nil {
			fmt.Printf("%s\tfail\t%s\n", fields[0], strings.ReplaceAll(err.Error(), "\n", " "))
		} else {
			fmt.Printf("%s\tok\t\n", fields[0])
		}
	}
}
