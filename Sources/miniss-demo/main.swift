import Miniss

let runtime = try Runtime(shards: 1)
print("backend:", runtime.backendName)
let v = try runtime.run {
    let h = spawn { 6 * 7 }
    try await sleep(for: .milliseconds(20))
    let t0 = ShardClock().now
    try await Task.sleep(for: .milliseconds(15))
    let t1 = ShardClock().now
    print("Task.sleep took", t0.duration(to: t1), "on shard", Shard.current?.id as Any)
    let inner = Task { () -> Int? in
        try? await Task.sleep(for: .milliseconds(5))
        return Shard.current?.id
    }
    print("Task {} ran on shard", await inner.value as Any)
    return try await h.value
}
print("value", v)
runtime.shutdown()
