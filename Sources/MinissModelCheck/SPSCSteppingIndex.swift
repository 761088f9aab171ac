import Miniss

/// The ring's shared index under the checker: a plain integer whose every load and store is
/// surrounded by scheduling points of the explorer that built the ring.
final class SPSCSteppingIndex: RingIndex, @unchecked Sendable {
    // SAFETY (@unchecked Sendable): `value` is read and written only by the explorer's baton
    // holder (see SPSCExplorer), so no two threads touch it at once and each hand-over orders
    // the accesses.
    private var value: Int
    /// Unowned: the explorer outlives every ring it builds (it drops each at the end of a run).
    private unowned let explorer: SPSCExplorer
    private let label: String

    init(_ value: Int) {
        guard let explorer = SPSCExplorer.building else {
            preconditionFailure("SPSCSteppingIndex is created only by rings an SPSCExplorer builds")
        }
        self.value = value
        self.explorer = explorer
        self.label = explorer.nextIndexLabel()
    }

    func loadAcquiring() -> Int {
        explorer.schedulingPoint()
        let loaded = value
        explorer.note("load \(label)=\(loaded)")
        explorer.schedulingPoint()
        return loaded
    }

    func storeReleasing(_ newValue: Int) {
        explorer.schedulingPoint()
        value = newValue
        explorer.didStore(label, newValue)
        explorer.schedulingPoint()
    }
}
