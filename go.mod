module github.com/ackmsg/ackmsg

go 1.26

require (
	github.com/BurntSushi/toml v1.6.0
	github.com/google/uuid v1.6.0
	github.com/hashicorp/go-multierror v1.1.1
	github.com/pebbe/zmq4 v1.4.0
	github.com/spf13/pflag v1.0.10
	go.uber.org/goleak v1.3.0
)

require github.com/hashicorp/errwrap v1.0.0 // indirect
