namespace Qwen3Gen.Distributed;

/// <summary>Picks the communicator for this process: Open MPI when started by mpirun, otherwise a single process.</summary>
public static class Communicator
{
    /// <summary>
    /// Open MPI's launcher sets OMPI_COMM_WORLD_SIZE in every rank's environment. Without it, nothing touches MPI
    /// (libmpi is not even loaded), so one process needs no MPI installed.
    /// </summary>
    public static bool LaunchedByMpirun => Environment.GetEnvironmentVariable("OMPI_COMM_WORLD_SIZE") is { Length: > 0 };

    /// <summary><see cref="OpenMpiCommunicator"/> under mpirun, else <see cref="SingleProcessCommunicator.Instance"/>.</summary>
    public static ICommunicator FromEnvironment() => LaunchedByMpirun ? new OpenMpiCommunicator() : SingleProcessCommunicator.Instance;
}
