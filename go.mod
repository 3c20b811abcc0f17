module netflow

go 1.22

require (
	github.com/emicklei/dot v1.6.2
	github.com/expr-lang/expr v1.17.8
	github.com/vishvananda/netlink v1.3.0
	github.com/vishvananda/netns v0.0.5
	golang.org/x/sys v0.10.0
)

require (
	github.com/stretchr/testify v1.12.1
	go.yaml.in/yaml/v3 v3.0.5 // indirect
)
