namespace Qwen3Gen.Distributed;

/// <summary>A started non-blocking collective: slots [First, First + Count) of its communicator's pending requests.</summary>
public readonly record struct CommRequest(int First, int Count);
