// SPDX-License-Identifier: Apache-2.0
// libcni_driver runs Debian's libcni (the reference runtime library) for interop and
// differential tests. It is built offline in GOPATH mode from golang-github-appc-cni-dev.
//
// Usage:
//
//	libcni_driver add|check|del|cached CONFLIST NETNS CONTAINERID IFNAME CACHEDIR [CNI_ARGS]
//	libcni_driver convert TOVERSION < result.json
//
// CNI_PATH and CAP_ARGS (a JSON object of capability args) come from the environment. Results and errors are printed as JSON on stdout;
// a failure exits 1.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io/ioutil"
	"os"
	"path/filepath"
	"strings"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/types/create"
)

func fail(err error) {
	out, _ := json.Marshal(map[string]string{"error": err.Error()})
	fmt.Println(string(out))
	os.Exit(1)
}

func printJSON(v interface{}) {
	out, err := json.Marshal(v)
	if err != nil {
		fail(err)
	}
	fmt.Println(string(out))
}

func convert(toVersion string) {
	data, err := ioutil.ReadAll(os.Stdin)
	if err != nil {
		fail(err)
	}
	res, err := create.CreateFromBytes(data)
	if err != nil {
		fail(err)
	}
	conv, err := res.GetAsVersion(toVersion)
	if err != nil {
		fail(err)
	}
	printJSON(conv)
}

func main() {
	if len(os.Args) >= 3 && os.Args[1] == "convert" {
		convert(os.Args[2])
		return
	}
	if len(os.Args) < 7 {
		fail(fmt.Errorf("usage: %s add|check|del|cached CONFLIST NETNS CONTAINERID IFNAME CACHEDIR [CNI_ARGS]", os.Args[0]))
	}
	verb, confPath := os.Args[1], os.Args[2]
	list, err := libcni.ConfListFromFile(confPath)
	if err != nil {
		fail(err)
	}
	rt := &libcni.RuntimeConf{
		ContainerID: os.Args[4],
		NetNS:       os.Args[3],
		IfName:      os.Args[5],
	}
	if len(os.Args) > 7 && os.Args[7] != "" {
		for _, pair := range strings.Split(os.Args[7], ";") {
			kv := strings.SplitN(pair, "=", 2)
			rt.Args = append(rt.Args, [2]string{kv[0], kv[1]})
		}
	}
	if caps := os.Getenv("CAP_ARGS"); caps != "" {
		if err := json.Unmarshal([]byte(caps), &rt.CapabilityArgs); err != nil {
			fail(err)
		}
	}
	cni := libcni.NewCNIConfigWithCacheDir(filepath.SplitList(os.Getenv("CNI_PATH")), os.Args[6], nil)
	ctx := context.Background()
	var res types.Result
	switch verb {
	case "add":
		res, err = cni.AddNetworkList(ctx, list, rt)
	case "check":
		err = cni.CheckNetworkList(ctx, list, rt)
	case "del":
		err = cni.DelNetworkList(ctx, list, rt)
	case "cached":
		res, err = cni.GetNetworkListCachedResult(list, rt)
	default:
		err = fmt.Errorf("unknown verb %q", verb)
	}
	if err != nil {
		fail(err)
	}
	if res != nil {
		printJSON(res)
	} else {
		printJSON(map[string]bool{"ok": true})
	}
}
