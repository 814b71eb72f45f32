// Command ackmsg-hub runs the consumers declared in the configuration ([[hub.consumers]]: exec
// commands and files) and ACKs each message only after they processed it. See package hub.
package main

import "github.com/ackmsg/ackmsg/hub"

func main() { hub.Main() }
