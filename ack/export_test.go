package ack

// PresignedReady is closed once the ACK of d, signed while the application processes it, is
// ready; nil when d's ACK is not being signed ahead.
func PresignedReady(d *Delivery) <-chan struct{} {
	if d.pre == nil {
		return nil
	}
	return d.pre.ready
}
