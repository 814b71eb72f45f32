package rmqtest

// Start is URL for programs that are not tests (the benchmarks): the AMQP URL of the shared
// node, started on first use, or why it cannot start; call Stop when done.
func Start() (string, error) {
	once.Do(func() {
		mu.Lock()
		defer mu.Unlock()
		n.err = first()
	})
	if n.err != nil {
		return "", n.err
	}
	return url(), nil
}
