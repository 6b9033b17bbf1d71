namespace Qwen3Gen.Distributed;

/// <summary>A collective did not complete within the communicator's timeout: a peer rank died, hangs or stopped calling it.</summary>
public sealed class CommunicationTimeoutException(string message) : IOException(message);
