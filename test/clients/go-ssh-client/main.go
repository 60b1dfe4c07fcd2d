// Command go-ssh-client drives Warden's SSH listener with golang.org/x/crypto/ssh for test/ssh-clients.e2e.test.ts.
//
// It reads one JSON object on stdin (host, port, user, token, host_key "type base64", payload size, denied command)
// and prints one JSON object: an exec's output and exit status, a payload piped through `sha256sum` on the host with
// the checksum computed here, and a denied exec's status and stderr. Warden's host key is pinned (FixedHostKey).
// Built offline from Debian's packages: GO111MODULE=off GOPATH=/usr/share/gocode go build.
package main

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"golang.org/x/crypto/ssh"
)

type input struct {
	Host    string `json:"host"`
	Port    int    `json:"port"`
	User    string `json:"user"`
	Token   string `json:"token"`
	HostKey string `json:"host_key"`
	Size    int    `json:"size"`
	Denied  string `json:"denied"`
}

type execResult struct {
	Stdout string `json:"stdout"`
	Stderr string `json:"stderr"`
	Status int    `json:"status"`
}

func run(client *ssh.Client, command string, stdin []byte) (execResult, error) {
	session, err := client.NewSession()
	if err != nil {
		return execResult{}, err
	}
	defer session.Close()
	var stdout, stderr bytes.Buffer
	session.Stdout = &stdout
	session.Stderr = &stderr
	session.Stdin = bytes.NewReader(stdin)
	status := 0
	if err := session.Run(command); err != nil {
		var exit *ssh.ExitError
		if !errors.As(err, &exit) {
			return execResult{}, err
		}
		status = exit.ExitStatus()
	}
	return execResult{Stdout: stdout.String(), Stderr: stderr.String(), Status: status}, nil
}

func main() {
	if err := serve(); err != nil {
		fmt.Fprintln(os.Stderr, "go-ssh-client:", err)
		os.Exit(1)
	}
}

func serve() error {
	var in input
	if err := json.NewDecoder(os.Stdin).Decode(&in); err != nil {
		return err
	}
	hostKey, _, _, _, err := ssh.ParseAuthorizedKey([]byte(in.HostKey))
	if err != nil {
		return err
	}
	config := &ssh.ClientConfig{
		User:            in.User,
		Auth:            []ssh.AuthMethod{ssh.Password(in.Token)},
		HostKeyCallback: ssh.FixedHostKey(hostKey),
		Timeout:         30 * time.Second,
	}
	client, err := ssh.Dial("tcp", net.JoinHostPort(in.Host, strconv.Itoa(in.Port)), config)
	if err != nil {
		return err
	}
	defer client.Close()
	out := map[string]interface{}{}
	if out["exec"], err = run(client, "echo hello-from-go; exit 4", nil); err != nil {
		return err
	}
	payload := make([]byte, in.Size)
	if _, err := rand.Read(payload); err != nil {
		return err
	}
	sum := sha256.Sum256(payload)
	piped, err := run(client, "sha256sum", payload)
	if err != nil {
		return err
	}
	out["pipe"] = map[string]interface{}{"sent": hex.EncodeToString(sum[:]), "host": piped.Stdout, "status": piped.Status}
	if out["denied"], err = run(client, in.Denied, nil); err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(out)
}
