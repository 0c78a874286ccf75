// Package dynamolocal starts and stops AWS's DynamoDB Local, the jar that the
// npm package amplify-dynamodb-simulator ships, on a free 127.0.0.1 port.
package dynamolocal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/stagehand-dev/stagehand/internal/ddbclient"
)

// EnvEndpoint names the variable through which a started server's URL
// reaches test processes.
const EnvEndpoint = "STAGEHAND_DYNAMODB_ENDPOINT"

// EnvJarDir overrides where DynamoDBLocal.jar is looked for.
const EnvJarDir = "STAGEHAND_DYNAMODB_LOCAL_DIR"

const jarRel = "node_modules/amplify-dynamodb-simulator/emulator"

// Server is a running DynamoDB Local.
type Server struct {
	Endpoint string
	cmd      *exec.Cmd
	out      *lockedBuffer
	work     string
	stopOnce sync.Once
}

// Start launches DynamoDB Local in memory on a free loopback port and waits
// until it answers ListTables. The error carries the server's own output.
func Start(ctx context.Context) (*Server, error) {
	dir, err := jarDir()
	if err != nil {
		return nil, err
	}
	java, err := exec.LookPath("java")
	if err != nil {
		return nil, errors.New("java not found on PATH: install openjdk-17-jre-headless (make deps does)")
	}
	port, err := freePort()
	if err != nil {
		return nil, fmt.Errorf("find a free port: %w", err)
	}
	// DynamoDB Local writes a metadata file into its working directory even
	// in memory: give it a directory of its own.
	work, err := os.MkdirTemp("", "dynamodb-local-")
	if err != nil {
		return nil, fmt.Errorf("make a working directory: %w", err)
	}
	out := &lockedBuffer{}
	cmd := exec.Command(java,
		"-Djava.library.path="+filepath.Join(dir, "DynamoDBLocal_lib"),
		"-jar", filepath.Join(dir, "DynamoDBLocal.jar"),
		"-inMemory", "-disableTelemetry", "-port", strconv.Itoa(port))
	cmd.Dir = work
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start DynamoDB Local: %w", err)
	}
	s := &Server{Endpoint: "http://127.0.0.1:" + strconv.Itoa(port), cmd: cmd, out: out, work: work}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	client := Client(s.Endpoint)
	for {
		pingCtx, pingCancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := client.ListTables(pingCtx, &dynamodb.ListTablesInput{Limit: aws.Int32(1)})
		pingCancel()
		if err == nil {
			return s, nil
		}
		select {
		case werr := <-exited:
			return nil, fmt.Errorf("DynamoDB Local exited before answering (%v); its output:\n%s", werr, out.String())
		case <-ctx.Done():
			s.Stop()
			return nil, fmt.Errorf("DynamoDB Local did not answer on %s within 60s (last error: %v); its output:\n%s", s.Endpoint, err, out.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Stop kills the server and its process group.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		if s.cmd.Process != nil {
			_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		}
		_ = os.RemoveAll(s.work)
	})
}

// Client returns a DynamoDB client for a local endpoint with dummy
// credentials. Retries stay at the SDK default.
func Client(endpoint string) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""),
	}, ddbclient.WithEndpoint(endpoint))
}

func jarDir() (string, error) {
	if d := os.Getenv(EnvJarDir); d != "" {
		return d, checkJar(d)
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return filepath.Join(d, jarRel), checkJar(filepath.Join(d, jarRel))
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.mod above %s: cannot find %s", wd, jarRel)
		}
	}
}

func checkJar(dir string) error {
	if _, err := os.Stat(filepath.Join(dir, "DynamoDBLocal.jar")); err != nil {
		return fmt.Errorf("DynamoDBLocal.jar not found in %s: run `npm ci` (make test does): %w", dir, err)
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
