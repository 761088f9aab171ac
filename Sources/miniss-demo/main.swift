import Miniss

let runtime = try Runtime(shards: 1, configuration: .init(pinThreads: false, idleSpin: .zero))
let sleepers = (0..<10).map { _ in runtime.spawn { try await sleep(for: .seconds(3600)) } }
let untracked = runtime.spawn {
    Task {
        try? await Task.sleep(for: .seconds(3600)); print("untracked woke")
    }
    return 0
}
let r = try runtime.run { 1 }
print("r", r)
runtime.shutdown()
for (i, s) in sleepers.enumerated() { print(i, s.isFinished) }
