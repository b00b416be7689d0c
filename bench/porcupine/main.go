// Porcupine on a multidc history: reads the JSONL history `multidc check` reads, builds Porcupine operations (a
// register with compare-and-set, partitioned by key) and times CheckOperations (CheckOperationsTimeout with a
// timeout). Prints one JSON object.
//
// The mapping follows multidc's checker (and Knossos): a failed operation took no effect and is left out; an
// operation whose outcome is unknown (info, or an invoke never completed) never returns (Return = MaxInt64, as
// Porcupine's documentation says for such operations) and its output is unknown, so the model allows it either way.
// Run with GOMAXPROCS=1: Porcupine checks partitions in parallel goroutines otherwise.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"runtime"
	"strconv"
	"time"

	"github.com/anishathalye/porcupine"
)

type event struct {
	Process int             `json:"process"`
	Type    string          `json:"type"`
	F       string          `json:"f"`
	Key     json.RawMessage `json:"key"`
	Value   json.RawMessage `json:"value"`
	Time    float64         `json:"time"`
}

// Values are compared as their compact JSON text, so any JSON value works; "null" is the initial value.
type input struct {
	key      string
	f        string
	value    string // write
	from, to string // cas
}

type output struct {
	unknown bool
	value   string // read
}

func text(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "null"
	}
	var v interface{}
	if err := json.Unmarshal(raw, &v); err != nil {
		panic(err)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func casPair(raw json.RawMessage) (string, string) {
	var pair []json.RawMessage
	if err := json.Unmarshal(raw, &pair); err != nil || len(pair) != 2 {
		panic(fmt.Sprintf("cas value %s is not [expected, new]", raw))
	}
	return text(pair[0]), text(pair[1])
}

var model = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		var order []string
		for _, op := range history {
			k := op.Input.(input).key
			if _, ok := byKey[k]; !ok {
				order = append(order, k)
			}
			byKey[k] = append(byKey[k], op)
		}
		parts := make([][]porcupine.Operation, 0, len(order))
		for _, k := range order {
			parts = append(parts, byKey[k])
		}
		return parts
	},
	Init: func() interface{} { return "null" },
	Step: func(state, in, out interface{}) (bool, interface{}) {
		s, i, o := state.(string), in.(input), out.(output)
		switch i.f {
		case "read":
			return o.unknown || o.value == s, s
		case "write":
			return true, i.value
		default: // cas: an unknown outcome may have failed (or be placed last, where it changes nothing)
			if s == i.from {
				return true, i.to
			}
			return o.unknown, s
		}
	},
	Hash: func(state interface{}) uint64 {
		h := uint64(14695981039346656037) // FNV-1a
		for _, c := range []byte(state.(string)) {
			h = (h ^ uint64(c)) * 1099511628211
		}
		return h
	},
}

func main() {
	if len(os.Args) != 2 && len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: porcupine-bench HISTORY.jsonl [TIMEOUT_SECONDS]")
		os.Exit(2)
	}
	timeout := time.Duration(0) // none
	if len(os.Args) == 3 {
		seconds, err := strconv.ParseFloat(os.Args[2], 64)
		if err != nil {
			panic(err)
		}
		timeout = time.Duration(seconds * float64(time.Second))
	}
	start := time.Now()
	file, err := os.Open(os.Args[1])
	if err != nil {
		panic(err)
	}
	defer file.Close()
	scanner := bufio.NewScanner(file)
	scanner.Buffer(make([]byte, 1<<20), 1<<20)
	type pending struct {
		in   input
		call int64
	}
	open := map[int]pending{}
	var ops []porcupine.Operation
	for scanner.Scan() {
		if len(scanner.Bytes()) == 0 {
			continue
		}
		var e event
		if err := json.Unmarshal(scanner.Bytes(), &e); err != nil {
			panic(err)
		}
		at := int64(math.Round(e.Time * 1e9))
		if e.Type == "invoke" {
			in := input{key: text(e.Key), f: e.F}
			switch e.F {
			case "write":
				in.value = text(e.Value)
			case "cas":
				in.from, in.to = casPair(e.Value)
			}
			open[e.Process] = pending{in, at}
			continue
		}
		p := open[e.Process]
		delete(open, e.Process)
		switch e.Type {
		case "fail":
			continue
		case "info":
			ops = append(ops, porcupine.Operation{ClientId: e.Process, Input: p.in, Call: p.call,
				Output: output{unknown: true}, Return: math.MaxInt64})
		default:
			out := output{}
			if e.F == "read" {
				out.value = text(e.Value)
			}
			ops = append(ops, porcupine.Operation{ClientId: e.Process, Input: p.in, Call: p.call, Output: out, Return: at})
		}
	}
	if err := scanner.Err(); err != nil {
		panic(err)
	}
	for process, p := range open {
		ops = append(ops, porcupine.Operation{ClientId: process, Input: p.in, Call: p.call,
			Output: output{unknown: true}, Return: math.MaxInt64})
	}
	loaded := time.Now()
	verdict := porcupine.CheckOperationsTimeout(model, ops, timeout) // as CheckOperations when timeout is 0
	checked := time.Now()
	result, _ := json.Marshal(map[string]interface{}{
		"operations": len(ops),
		"result":     string(verdict), // Ok, Illegal, or Unknown (timed out)
		"load_s":     loaded.Sub(start).Seconds(),
		"check_s":    checked.Sub(loaded).Seconds(),
		"gomaxprocs": runtime.GOMAXPROCS(0),
	})
	fmt.Println(string(result))
}
