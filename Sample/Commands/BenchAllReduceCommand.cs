using System.CommandLine;
using System.Diagnostics;
using Qwen3Gen.Distributed;
using Qwen3Gen.Kernels;

namespace Qwen3Gen.Sample.Commands;

/// <summary>
/// `mpirun -np N qwen3gen bench allreduce`: time of an in-place float all-reduce (MPI_Iallreduce + wait, as the trainer
/// does it) from 4 bytes to 64 MiB, with the bus bandwidth 2(N−1)/N · bytes / time that a ring all-reduce moves per rank.
/// The latency (small sizes) and bandwidth (large sizes) are the inputs of docs/distributed.md's scaling model.
/// </summary>
internal static class BenchAllReduceCommand
{
    public static Command Create()
    {
        var repeat = new Option<int>("--repeat") { Description = "Timed all-reduces per size (the median is reported).", DefaultValueFactory = _ => 20 };
        var command = new Command("allreduce", "Under mpirun: all-reduce latency and bandwidth between the ranks, 4 B to 64 MiB.") { repeat };
        command.SetAction(parse => Run(parse.GetValue(repeat)));
        return command;
    }

    private static unsafe int Run(int repeat)
    {
        if (repeat < 1)
        {
            Console.Error.WriteLine($"bench allreduce: --repeat ({repeat}) must be at least 1.");
            return 1;
        }
        if (!Communicator.LaunchedByMpirun)
        {
            Console.Error.WriteLine("bench allreduce: start it under mpirun, e.g. `mpirun -np 2 qwen3gen bench allreduce` (root: add --allow-run-as-root).");
            return 1;
        }
        using var comm = new OpenMpiCommunicator();
        const long MaxFloats = 16L << 20;
        using var buffer = new NativeBuffer<float>(MaxFloats);
        buffer.Clear();
        var times = new double[repeat];
        if (comm.Rank == 0)
            Console.WriteLine($"{comm.Description}, {comm.Size} ranks: in-place float all-reduce, median of {repeat}\n{"bytes",12} {"time",12} {"bus bandwidth",16}");
        for (long floats = 1; floats <= MaxFloats; floats *= 4)
        {
            for (int i = 0; i < 3; i++) comm.AllReduceSum(buffer.Pointer, floats);              // warm-up
            for (int i = 0; i < repeat; i++)
            {
                comm.Barrier();
                long start = Stopwatch.GetTimestamp();
                comm.AllReduceSum(buffer.Pointer, floats);
                times[i] = Stopwatch.GetElapsedTime(start).TotalSeconds;
            }
            Array.Sort(times);
            double median = times[repeat / 2], bytes = floats * 4.0;
            double bus = 2.0 * (comm.Size - 1) / comm.Size * bytes / median;
            if (comm.Rank == 0) Console.WriteLine($"{Bytes(bytes),12} {median * 1e6,9:F1} µs {bus / 1e9,11:F2} GB/s");
        }
        return 0;
    }

    private static string Bytes(double b) => b >= 1 << 20 ? $"{b / (1 << 20):0.#} MiB" : b >= 1024 ? $"{b / 1024:0.#} KiB" : $"{b:0} B";
}
