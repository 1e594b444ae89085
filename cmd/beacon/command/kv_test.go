package command

import "testing"

const pairA = `{"LockIndex":0,"Key":"redis/config/minconns","Flags":0,"Value":"MQ==","CreateIndex":5,"ModifyIndex":7}`

func TestKVGet(t *testing.T) {
	runCases(t, []cliCase{
		{
			name:   "value",
			args:   []string{"kv", "get", "redis/config/minconns"},
			want:   []exchange{{method: "GET", path: "/v1/kv/redis/config/minconns", reply: "[" + pairA + "]"}},
			stdout: "1\n",
		},
		{
			name:   "leading slash dropped, datacenter and stale passed",
			args:   []string{"kv", "get", "-datacenter", "dc2", "-stale", "/redis/config/minconns"},
			want:   []exchange{{method: "GET", path: "/v1/kv/redis/config/minconns", query: "dc=dc2&stale=", reply: "[" + pairA + "]"}},
			stdout: "1\n",
		},
		{
			name:   "key with characters URLs reserve",
			args:   []string{"kv", "get", "a b?c#d%e"},
			want:   []exchange{{method: "GET", path: "/v1/kv/a b?c#d%e", reply: `[{"Key":"a b?c#d%e","Value":"eA=="}]`}},
			stdout: "x\n",
		},
		{
			name: "detailed",
			args: []string{"kv", "get", "-detailed", "redis/config/minconns"},
			want: []exchange{{method: "GET", path: "/v1/kv/redis/config/minconns", reply: "[" + pairA + "]"}},
			stdout: "" +
				"CreateIndex      5\n" +
				"Flags            0\n" +
				"Key              redis/config/minconns\n" +
				"LockIndex        0\n" +
				"ModifyIndex      7\n" +
				"Session          -\n" +
				"Value            1\n",
		},
		{
			name:   "base64",
			args:   []string{"kv", "get", "-base64", "redis/config/minconns"},
			want:   []exchange{{method: "GET", path: "/v1/kv/redis/config/minconns", reply: "[" + pairA + "]"}},
			stdout: "MQ==\n",
		},
		{
			name:   "missing key",
			args:   []string{"kv", "get", "nope"},
			want:   []exchange{{method: "GET", path: "/v1/kv/nope", status: 404}},
			code:   1,
			stderr: "Error! No key exists at: nope\n",
		},
		{
			name:   "no key",
			args:   []string{"kv", "get"},
			code:   1,
			stderr: "Error! Missing KEY argument\n",
		},
		{
			name:   "too many arguments",
			args:   []string{"kv", "get", "a", "b"},
			code:   1,
			stderr: "Too many arguments (expected 1, got 2)\n",
		},
		{
			name: "recurse",
			args: []string{"kv", "get", "-recurse", "redis"},
			want: []exchange{{method: "GET", path: "/v1/kv/redis", query: "recurse=", reply: `[
				{"Key":"redis/config/maxconns","Value":"MjU="},
				{"Key":"redis/config/minconns","Value":"MQ=="},
				{"Key":"redis/empty","Value":null}]`}},
			stdout: "redis/config/maxconns:25\nredis/config/minconns:1\nredis/empty:\n",
		},
		{
			name: "recurse detailed separates pairs with a blank line",
			args: []string{"kv", "get", "-recurse", "-detailed"},
			want: []exchange{{method: "GET", path: "/v1/kv/", query: "recurse=", reply: `[
				{"Key":"a","Value":"MQ==","CreateIndex":1,"ModifyIndex":1},
				{"Key":"b","Value":"Mg==","CreateIndex":2,"ModifyIndex":3,"Flags":9,"LockIndex":1,"Session":"adf4238a-882b-9ddc-4a9d-5b6758e4159e"}]`}},
			stdout: "" +
				"CreateIndex      1\nFlags            0\nKey              a\nLockIndex        0\nModifyIndex      1\nSession          -\nValue            1\n" +
				"\n" +
				"CreateIndex      2\nFlags            9\nKey              b\nLockIndex        1\nModifyIndex      3\nSession          adf4238a-882b-9ddc-4a9d-5b6758e4159e\nValue            2\n",
		},
		{
			name: "recurse over nothing prints nothing",
			args: []string{"kv", "get", "-recurse", "nothing"},
			want: []exchange{{method: "GET", path: "/v1/kv/nothing", query: "recurse=", status: 404}},
		},
		{
			name:   "keys",
			args:   []string{"kv", "get", "-keys", "redis/"},
			want:   []exchange{{method: "GET", path: "/v1/kv/redis/", query: "keys=&separator=%2F", reply: `["redis/config/","redis/empty"]`}},
			stdout: "redis/config/\nredis/empty\n",
		},
		{
			name:   "keys without a separator",
			args:   []string{"kv", "get", "-keys", "-separator", "", "redis"},
			want:   []exchange{{method: "GET", path: "/v1/kv/redis", query: "keys=", reply: `["redis/config/minconns"]`}},
			stdout: "redis/config/minconns\n",
		},
		{
			name: "keys under nothing prints nothing",
			args: []string{"kv", "get", "-keys", "nothing"},
			want: []exchange{{method: "GET", path: "/v1/kv/nothing", query: "keys=&separator=%2F", status: 404}},
		},
		{
			name:   "server error",
			args:   []string{"kv", "get", "k"},
			want:   []exchange{{method: "GET", path: "/v1/kv/k", status: 500, reply: "No cluster leader"}},
			code:   1,
			stderr: "Error querying Beacon agent: Unexpected response code: 500 (No cluster leader)\n",
		},
	})
}

func TestKVPut(t *testing.T) {
	put := func(key, query, body, reply string) exchange {
		return exchange{method: "PUT", path: "/v1/kv/" + key, query: query, body: body, reply: reply}
	}
	runCases(t, []cliCase{
		{
			name:   "value",
			args:   []string{"kv", "put", "redis/config/minconns", "1"},
			want:   []exchange{put("redis/config/minconns", "", "1", "true")},
			stdout: "Success! Data written to: redis/config/minconns\n",
		},
		{
			name:   "no value writes an empty key",
			args:   []string{"kv", "put", "webapp/beta/active"},
			want:   []exchange{put("webapp/beta/active", "", "", "true")},
			stdout: "Success! Data written to: webapp/beta/active\n",
		},
		{
			name:   "flags and datacenter",
			args:   []string{"kv", "put", "-flags", "42", "-datacenter", "dc2", "k", "v"},
			want:   []exchange{put("k", "flags=42&dc=dc2", "v", "true")},
			stdout: "Success! Data written to: k\n",
		},
		{
			name:   "value from a file",
			args:   []string{"kv", "put", "config/license", "@{{dir}}/license.lic"},
			files:  map[string]string{"license.lic": "line 1\nline 2\n"},
			want:   []exchange{put("config/license", "", "line 1\nline 2\n", "true")},
			stdout: "Success! Data written to: config/license\n",
		},
		{
			name:   "value from stdin",
			args:   []string{"kv", "put", "k", "-"},
			stdin:  "abcd1234\n",
			want:   []exchange{put("k", "", "abcd1234\n", "true")},
			stdout: "Success! Data written to: k\n",
		},
		{
			name:   "a value that only starts with a dash",
			args:   []string{"kv", "put", "k", "--x"},
			want:   []exchange{put("k", "", "--x", "true")},
			stdout: "Success! Data written to: k\n",
		},
		{
			name:   "base64",
			args:   []string{"kv", "put", "-base64", "k", "aGk="},
			want:   []exchange{put("k", "", "hi", "true")},
			stdout: "Success! Data written to: k\n",
		},
		{
			name:   "bad base64",
			args:   []string{"kv", "put", "-base64", "k", "!!"},
			code:   1,
			stderr: "Error! Cannot base 64 decode data: illegal base64 data at input byte 0\n",
		},
		{
			name:   "missing file",
			args:   []string{"kv", "put", "k", "@{{dir}}/nope"},
			code:   1,
			stderr: "Error! failed to read file: open {{dir}}/nope: no such file or directory\n",
		},
		{
			name:   "cas written",
			args:   []string{"kv", "put", "-cas", "-modify-index", "844", "k", "5"},
			want:   []exchange{put("k", "cas=844", "5", "true")},
			stdout: "Success! Data written to: k\n",
		},
		{
			name:   "cas missed",
			args:   []string{"kv", "put", "-cas", "-modify-index=844", "k", "5"},
			want:   []exchange{put("k", "cas=844", "5", "false")},
			code:   1,
			stderr: "Error! Did not write to k: CAS failed\n",
		},
		{
			name:   "cas with index 0 writes only a new key",
			args:   []string{"kv", "put", "-cas", "-modify-index=0", "k", "5"},
			want:   []exchange{put("k", "cas=0", "5", "true")},
			stdout: "Success! Data written to: k\n",
		},
		{
			name:   "cas needs an index",
			args:   []string{"kv", "put", "-cas", "k", "5"},
			code:   1,
			stderr: "Must specify -modify-index with -cas!\n",
		},
		{
			name:   "cas error",
			args:   []string{"kv", "put", "-cas", "-modify-index=1", "k", "5"},
			want:   []exchange{{method: "PUT", path: "/v1/kv/k", query: "cas=1", body: "5", status: 500, reply: "No cluster leader"}},
			code:   1,
			stderr: "Error! Did not write to k: Unexpected response code: 500 (No cluster leader)\n",
		},
		{
			name:   "acquire",
			args:   []string{"kv", "put", "-acquire", "-session", "s1", "lock", "me"},
			want:   []exchange{put("lock", "acquire=s1", "me", "true")},
			stdout: "Success! Lock acquired on: lock\n",
		},
		{
			name:   "acquire refused",
			args:   []string{"kv", "put", "-acquire", "-session", "s1", "lock"},
			want:   []exchange{put("lock", "acquire=s1", "", "false")},
			code:   1,
			stderr: "Error! Did not acquire lock\n",
		},
		{
			name:   "release",
			args:   []string{"kv", "put", "-release", "-session", "s1", "lock"},
			want:   []exchange{put("lock", "release=s1", "", "true")},
			stdout: "Success! Lock released on: lock\n",
		},
		{
			name:   "acquire needs a session",
			args:   []string{"kv", "put", "-acquire", "lock"},
			code:   1,
			stderr: "Error! Missing -session (required with -acquire and -release)\n",
		},
		{
			name:   "no key",
			args:   []string{"kv", "put"},
			code:   1,
			stderr: "Error! Missing KEY argument\n",
		},
		{
			name:   "too many arguments",
			args:   []string{"kv", "put", "a", "b", "c"},
			code:   1,
			stderr: "Error! Too many arguments (expected 1 or 2, got 3)\n",
		},
		{
			name:   "key starting with a slash",
			args:   []string{"kv", "put", "/k", "v"},
			code:   1,
			stderr: "Error! Failed writing data: Invalid key. Key must not begin with a '/': /k\n",
		},
		{
			name:   "value too large",
			args:   []string{"kv", "put", "k", "v"},
			want:   []exchange{{method: "PUT", path: "/v1/kv/k", body: "v", status: 413, reply: "Value exceeds 524288 byte limit"}},
			code:   1,
			stderr: "Error! Failed writing data: Unexpected response code: 413 (Value exceeds 524288 byte limit)\n",
		},
	})
}

func TestKVDelete(t *testing.T) {
	runCases(t, []cliCase{
		{
			name:   "key",
			args:   []string{"kv", "delete", "redis/config/minconns"},
			want:   []exchange{{method: "DELETE", path: "/v1/kv/redis/config/minconns", reply: "true"}},
			stdout: "Success! Deleted key: redis/config/minconns\n",
		},
		{
			name:   "prefix",
			args:   []string{"kv", "delete", "-recurse", "redis"},
			want:   []exchange{{method: "DELETE", path: "/v1/kv/redis", query: "recurse=", reply: "true"}},
			stdout: "Success! Deleted keys with prefix: redis\n",
		},
		{
			name:   "everything",
			args:   []string{"kv", "delete", "-recurse"},
			want:   []exchange{{method: "DELETE", path: "/v1/kv/", query: "recurse=", reply: "true"}},
			stdout: "Success! Deleted keys with prefix: \n",
		},
		{
			name:   "cas",
			args:   []string{"kv", "delete", "-cas", "-modify-index", "3", "k"},
			want:   []exchange{{method: "DELETE", path: "/v1/kv/k", query: "cas=3", reply: "true"}},
			stdout: "Success! Deleted key: k\n",
		},
		{
			name:   "cas missed",
			args:   []string{"kv", "delete", "-cas", "-modify-index", "3", "k"},
			want:   []exchange{{method: "DELETE", path: "/v1/kv/k", query: "cas=3", reply: "false"}},
			code:   1,
			stderr: "Error! Did not delete key k: CAS failed\n",
		},
		{
			name:   "cas and recurse",
			args:   []string{"kv", "delete", "-cas", "-modify-index", "3", "-recurse", "k"},
			code:   1,
			stderr: "Cannot specify both -cas and -recurse!\n",
		},
		{
			name:   "cas and recurse without an index",
			args:   []string{"kv", "delete", "-cas", "-recurse", "k"},
			code:   1,
			stderr: "Cannot specify both -cas and -recurse!\n",
		},
		{
			name:   "cas without an index",
			args:   []string{"kv", "delete", "-cas", "k"},
			code:   1,
			stderr: "Cannot delete a key that does not exist. Provide a -modify-index greater than 0.\n",
		},
		{
			name:   "index without cas",
			args:   []string{"kv", "delete", "-modify-index", "3", "k"},
			code:   1,
			stderr: "Cannot specify -modify-index without -cas!\n",
		},
		{
			name:   "no key",
			args:   []string{"kv", "delete"},
			code:   1,
			stderr: "Error! Missing KEY argument\n",
		},
		{
			name:   "server error",
			args:   []string{"kv", "delete", "-recurse", "p"},
			want:   []exchange{{method: "DELETE", path: "/v1/kv/p", query: "recurse=", status: 403, reply: "Permission denied"}},
			code:   1,
			stderr: "Error! Did not delete prefix p: Unexpected response code: 403 (Permission denied)\n",
		},
	})
}

func TestKVExportImport(t *testing.T) {
	exported := "[\n" +
		"\t{\n\t\t\"key\": \"redis/a\",\n\t\t\"flags\": 0,\n\t\t\"value\": \"MQ==\"\n\t},\n" +
		"\t{\n\t\t\"key\": \"redis/b\",\n\t\t\"flags\": 7,\n\t\t\"value\": \"\"\n\t}\n" +
		"]"
	runCases(t, []cliCase{
		{
			name:   "export",
			args:   []string{"kv", "export", "redis"},
			want:   []exchange{{method: "GET", path: "/v1/kv/redis", query: "recurse=", reply: `[{"Key":"redis/a","Value":"MQ=="},{"Key":"redis/b","Flags":7,"Value":null}]`}},
			stdout: exported + "\n",
		},
		{
			name:   "export of nothing",
			args:   []string{"kv", "export", "none"},
			want:   []exchange{{method: "GET", path: "/v1/kv/none", query: "recurse=", status: 404}},
			stdout: "[]\n",
		},
		{
			name:  "import from a file",
			args:  []string{"kv", "import", "@{{dir}}/kv.json"},
			files: map[string]string{"kv.json": exported},
			want: []exchange{
				{method: "PUT", path: "/v1/kv/redis/a", body: "1", reply: "true"},
				{method: "PUT", path: "/v1/kv/redis/b", query: "flags=7", reply: "true"},
			},
			stdout: "Imported: redis/a\nImported: redis/b\n",
		},
		{
			name:   "import from stdin under a prefix",
			args:   []string{"kv", "import", "-prefix", "copy/", "-"},
			stdin:  exported,
			want:   []exchange{{method: "PUT", path: "/v1/kv/copy/redis/a", body: "1", reply: "true"}, {method: "PUT", path: "/v1/kv/copy/redis/b", query: "flags=7", reply: "true"}},
			stdout: "Imported: copy/redis/a\nImported: copy/redis/b\n",
		},
		{
			name:   "import of bad JSON",
			args:   []string{"kv", "import", "[{"},
			code:   1,
			stderr: "Cannot unmarshal data: unexpected end of JSON input\n",
		},
		{
			name:   "import without data",
			args:   []string{"kv", "import"},
			code:   1,
			stderr: "Error! Missing DATA argument\n",
		},
	})
}
