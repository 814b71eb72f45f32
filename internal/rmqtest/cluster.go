package rmqtest

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/ackmsg/ackmsg/internal/freeport"
)

// Cluster is a RabbitMQ cluster of several nodes on this host, started by [NewCluster] for one
// test and stopped when it ends: each node has its own directory, name
// (ackmsg-c<pid>-<k>-<i>@localhost) and AMQP and distribution ports chosen free below the
// ephemeral range; the nodes share a private Erlang cookie and a private epmd port
// (ERL_EPMD_PORT), so they find each other and nothing else. They form the cluster by classic
// peer discovery: the first node is started alone, the others join it. A node can be killed
// (SIGKILL, as a crash or a power cut) and started again; it rejoins with its data.
type Cluster struct {
	mu    sync.Mutex
	dir   string
	epmd  int
	nodes []*node
}

var clusters counter

type counter struct {
	sync.Mutex
	n int
}

func (a *counter) next() int {
	a.Lock()
	defer a.Unlock()
	a.n++
	return a.n
}

// NewCluster starts a cluster of size nodes ([StartCluster]) for the test, stopped when it
// ends. Without RabbitMQ the test is skipped with the reason (failed under CI=true).
func NewCluster(t testing.TB, size int) *Cluster {
	t.Helper()
	if err := Available(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("RabbitMQ: %v (CI must run these tests)", err)
		}
		t.Skipf("RabbitMQ not available: %v", err)
	}
	c, err := StartCluster(size)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// StartCluster starts a cluster of size nodes and returns once every node accepts AMQP
// connections and is a running member (a minute or so on two cores), or why it could not; Close
// stops it. It is NewCluster for programs that are not tests (the benchmarks).
func StartCluster(size int) (*Cluster, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "ackmsg-rmqcluster")
	if err != nil {
		return nil, err
	}
	ports, err := freeport.PickN(2*size + 1)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	c := &Cluster{dir: dir, epmd: ports[2*size]}
	if err := c.start(size, ports); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func (c *Cluster) start(size int, ports []int) error {
	k := clusters.next()
	cookie := fmt.Sprintf("ACKMSGCLUSTER%d%dCOOKIE", os.Getpid(), k)
	names := make([]string, size)
	for i := range size {
		names[i] = fmt.Sprintf("ackmsg-c%d-%d-%d@localhost", os.Getpid(), k, i)
	}
	var peers strings.Builder
	peers.WriteString("cluster_formation.peer_discovery_backend = classic_config\n")
	for i, name := range names {
		fmt.Fprintf(&peers, "cluster_formation.classic_config.nodes.%d = %s\n", i+1, name)
	}
	for i := range size {
		nd, err := setup(nodeSpec{dir: fmt.Sprintf("%s/n%d", c.dir, i), name: names[i], cookie: cookie,
			amqpPort: ports[2*i], distPort: ports[2*i+1], epmd: c.epmd, conf: peers.String()})
		if err != nil {
			return err
		}
		c.nodes = append(c.nodes, nd)
	}
	// The first node alone, so that the others find a running cluster to join rather than
	// forming their own.
	if err := c.nodes[0].launch(); err != nil {
		return fmt.Errorf("rmqtest: cluster node 0: %w", err)
	}
	errs := make([]error, size)
	var wg sync.WaitGroup
	for i := 1; i < size; i++ {
		wg.Go(func() { errs[i] = c.nodes[i].launch() })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return fmt.Errorf("rmqtest: cluster node %d: %w", i, err)
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, err := c.nodes[0].ctl("rabbitmqctl", "eval", "length(rabbit_nodes:all_running()).")
		if err == nil && strings.TrimSpace(out) == fmt.Sprint(size) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("rmqtest: the cluster did not form within 60 s: %s %v", out, err)
		}
		time.Sleep(200 * time.Millisecond) // polling for readiness: ask until all are running
	}
}

// Size is the number of nodes.
func (c *Cluster) Size() int { return len(c.nodes) }

// URL is node i's AMQP URL (user guest, vhost /).
func (c *Cluster) URL(i int) string { return c.nodes[i].url() }

// URLs are the nodes' AMQP URLs, in node order.
func (c *Cluster) URLs() []string {
	out := make([]string, len(c.nodes))
	for i := range c.nodes {
		out[i] = c.URL(i)
	}
	return out
}

// Node is the index of the node listening on addr (host:port), or -1.
func (c *Cluster) Node(addr string) int {
	for i, nd := range c.nodes {
		if addr == fmt.Sprintf("127.0.0.1:%d", nd.amqpPort) {
			return i
		}
	}
	return -1
}

// Kill kills node i with SIGKILL (its whole process group) and waits until it is gone.
func (c *Cluster) Kill(t testing.TB, i int) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.nodes[i].proc == nil {
		t.Fatalf("rmqtest: Kill %d: %v", i, errNotRunning)
	}
	c.nodes[i].kill()
}

// Start starts the killed node i again on its data and waits until it accepts AMQP connections.
func (c *Cluster) Start(t testing.TB, i int) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.nodes[i].proc != nil {
		t.Fatalf("rmqtest: Start %d: the node is running", i)
	}
	if err := c.nodes[i].launch(); err != nil {
		t.Fatalf("rmqtest: restarting cluster node %d: %v", i, err)
	}
}

// Leader is the index of the node that leads quorum queue q, asked of a running node.
func (c *Cluster) Leader(t testing.TB, q string) int {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	var last error
	for _, nd := range c.nodes {
		if nd.proc == nil {
			continue
		}
		out, err := nd.ctl("rabbitmqctl", "list_queues", "--quiet", "--no-table-headers", "name", "leader")
		if err != nil {
			last = err
			continue
		}
		for _, line := range strings.Split(out, "\n") {
			f := strings.Fields(line)
			if len(f) == 2 && f[0] == q {
				for i, nd := range c.nodes {
					if nd.name == f[1] {
						return i
					}
				}
				t.Fatalf("rmqtest: queue %s led by %s, not a node of the cluster", q, f[1])
			}
		}
		last = fmt.Errorf("queue %s not listed: %s", q, out)
	}
	t.Fatalf("rmqtest: leader of %s: %v", q, last)
	return -1
}

// Dial connects to the first running node that answers.
func (c *Cluster) Dial(t testing.TB) *amqp.Connection {
	t.Helper()
	var last error
	for i := range c.nodes {
		conn, err := amqp.DialConfig(c.URL(i), amqp.Config{Dial: amqp.DefaultDial(5 * time.Second)})
		if err == nil {
			return conn
		}
		last = err
	}
	t.Fatalf("rmqtest: no node of the cluster answers: %v", last)
	return nil
}

// Close stops every node (SIGTERM in parallel), the cluster's epmd, and removes the directory.
func (c *Cluster) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	var wg sync.WaitGroup
	for _, nd := range c.nodes {
		wg.Go(nd.stop)
	}
	wg.Wait()
	killEpmd(c.epmd)
	os.RemoveAll(c.dir)
}
