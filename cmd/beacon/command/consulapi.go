package command

import "github.com/hashicorp/consul/api"

// consulClient returns a hashicorp/consul/api client that reaches the
// agent exactly as c.client does (address, socket, token, TLS), for the
// commands built on that library's lock, semaphore and watch plans; or
// prints why it cannot.
func (c *clientCommand) consulClient() (*api.Client, bool) {
	cl, ok := c.client()
	if !ok {
		return nil, false
	}
	base, token, hc := cl.Transport()
	consul, err := api.NewClient(&api.Config{Address: base.Host, Scheme: base.Scheme, Token: token, HttpClient: hc})
	if err != nil {
		c.fail("Error connecting to Beacon agent: %v", err)
		return nil, false
	}
	return consul, true
}
