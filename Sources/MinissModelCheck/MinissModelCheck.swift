/// Model checkers for the two lock-free / algorithmic cores of Miniss: the SPSC ring
/// (``SPSCChecker``) and the timer wheel (``TimerWheelChecker``). Each drives the real code
/// through its seam, checks every run against a sequential reference model, and proves it can
/// fail by catching the planted bugs (mutants) that debug builds of Miniss carry.
public enum MinissModelCheck {}
