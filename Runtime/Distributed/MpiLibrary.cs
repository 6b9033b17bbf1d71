using System.Runtime.InteropServices;

namespace Qwen3Gen.Distributed;

/// <summary>
/// The few Open MPI entry points used, bound at run time from libmpi.so.40 (Debian's openmpi-bin / libopenmpi-dev).
/// The library is opened with dlopen(RTLD_NOW | RTLD_GLOBAL), as MPI's own plugins expect its symbols to be global.
/// Open MPI's handles are addresses of its predefined objects: MPI_COMM_WORLD is &amp;ompi_mpi_comm_world, MPI_FLOAT
/// &amp;ompi_mpi_float, MPI_SUM &amp;ompi_mpi_op_sum, MPI_REQUEST_NULL &amp;ompi_request_null; MPI_IN_PLACE is (void*)1 and MPI_STATUS(ES)_IGNORE is NULL (mpi.h).
/// </summary>
internal static unsafe class MpiLibrary
{
    public const int Success = 0;
    public const int ThreadFunneled = 1;                 // MPI_THREAD_FUNNELED: only the main thread calls MPI
    public static readonly void* InPlace = (void*)1;

    public static readonly nint CommWorld, FloatType, DoubleType, ByteType, OpSum, RequestNull;

    public static readonly delegate* unmanaged<int*, byte***, int, int*, int> InitThread;
    public static readonly delegate* unmanaged<int*, int> Initialized;
    public static readonly delegate* unmanaged<int*, int> Finalized;
    public static readonly delegate* unmanaged<int> FinalizeMpi;
    public static readonly delegate* unmanaged<nint, int*, int> CommRank, CommSize;
    public static readonly delegate* unmanaged<nint, int, int, nint*, int> CommSplit;
    public static readonly delegate* unmanaged<nint*, int> CommFree;
    public static readonly delegate* unmanaged<void*, void*, int, nint, nint, nint, nint*, int> Iallreduce;
    public static readonly delegate* unmanaged<void*, int, nint, int, nint, nint*, int> Ibcast;
    public static readonly delegate* unmanaged<nint, nint*, int> Ibarrier;
    public static readonly delegate* unmanaged<void*, int, nint, void*, int*, int*, nint, nint, nint*, int> Iallgatherv;
    public static readonly delegate* unmanaged<void*, int, nint, void*, int*, int*, nint, int, nint, nint*, int> Igatherv;
    public static readonly delegate* unmanaged<void*, int*, int*, nint, void*, int*, int*, nint, nint, nint*, int> Ialltoallv;
    public static readonly delegate* unmanaged<nint*, int*, void*, int> Test;
    public static readonly delegate* unmanaged<nint, int, int> AbortJob;
    public static readonly delegate* unmanaged<byte*, int*, int> GetLibraryVersion;

    static MpiLibrary()
    {
        nint lib = Open();
        nint F(string name) => NativeLibrary.GetExport(lib, name);
        CommWorld = F("ompi_mpi_comm_world");
        FloatType = F("ompi_mpi_float");
        DoubleType = F("ompi_mpi_double");
        ByteType = F("ompi_mpi_byte");
        OpSum = F("ompi_mpi_op_sum");
        RequestNull = F("ompi_request_null");              // MPI_REQUEST_NULL: what MPI_Test leaves in a completed request
        InitThread = (delegate* unmanaged<int*, byte***, int, int*, int>)F("MPI_Init_thread");
        Initialized = (delegate* unmanaged<int*, int>)F("MPI_Initialized");
        Finalized = (delegate* unmanaged<int*, int>)F("MPI_Finalized");
        FinalizeMpi = (delegate* unmanaged<int>)F("MPI_Finalize");
        CommRank = (delegate* unmanaged<nint, int*, int>)F("MPI_Comm_rank");
        CommSize = (delegate* unmanaged<nint, int*, int>)F("MPI_Comm_size");
        CommSplit = (delegate* unmanaged<nint, int, int, nint*, int>)F("MPI_Comm_split");    // MPI_Comm is a pointer in Open MPI
        CommFree = (delegate* unmanaged<nint*, int>)F("MPI_Comm_free");
        Iallreduce = (delegate* unmanaged<void*, void*, int, nint, nint, nint, nint*, int>)F("MPI_Iallreduce");
        Ibcast = (delegate* unmanaged<void*, int, nint, int, nint, nint*, int>)F("MPI_Ibcast");
        Ibarrier = (delegate* unmanaged<nint, nint*, int>)F("MPI_Ibarrier");
        Iallgatherv = (delegate* unmanaged<void*, int, nint, void*, int*, int*, nint, nint, nint*, int>)F("MPI_Iallgatherv");
        Igatherv = (delegate* unmanaged<void*, int, nint, void*, int*, int*, nint, int, nint, nint*, int>)F("MPI_Igatherv");
        Ialltoallv = (delegate* unmanaged<void*, int*, int*, nint, void*, int*, int*, nint, nint, nint*, int>)F("MPI_Ialltoallv");
        Test = (delegate* unmanaged<nint*, int*, void*, int>)F("MPI_Test");
        AbortJob = (delegate* unmanaged<nint, int, int>)F("MPI_Abort");
        GetLibraryVersion = (delegate* unmanaged<byte*, int*, int>)F("MPI_Get_library_version");
    }

    private static nint Open()
    {
        const int RtldNow = 0x2, RtldGlobal = 0x100;
        foreach (var name in new[] { "libmpi.so.40", "libmpi.so" })
        {
            nint handle = dlopen(name, RtldNow | RtldGlobal);
            if (handle != 0) return handle;
        }
        throw new DllNotFoundException("Open MPI's libmpi.so.40 was not found. Install it with `apt-get install openmpi-bin libopenmpi-dev` " +
                                       "(this process was started by mpirun: OMPI_COMM_WORLD_SIZE is set).");
    }

    [DllImport("libc", EntryPoint = "dlopen")]
    private static extern nint dlopen([MarshalAs(UnmanagedType.LPUTF8Str)] string file, int mode);

    /// <summary>Throws naming the call when an MPI function returns an error code.</summary>
    public static void Check(int code, string call)
    {
        if (code != Success) throw new IOException($"{call} failed with MPI error code {code}.");
    }
}
