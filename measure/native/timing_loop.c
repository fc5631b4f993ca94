/*
 * Timed loops of MPI calls for the fabric modeler's MPI probe (measure/mpi_probe.py).
 *
 * The probe drives MPI through mpi4py, whose argument handling costs 0.2-0.7 us per call: as
 * much as a whole 8-byte all-reduce or ping-pong between two ranks in shared memory. A C
 * benchmark (IMB-MPI1, the OSU micro-benchmarks) reads the clock around a loop of plain MPI
 * calls and pays none of it. These functions run that loop in C, so the probe times what the
 * C benchmarks time; Python only prepares the buffers and checks them afterwards.
 *
 * Built on first use with the mpicc of the MPI library that mpi4py loaded (measure/native_loop.py)
 * and called through ctypes. Handles cross the boundary as Fortran integers (MPI_Comm_c2f on the
 * Python side via mpi4py's py2f, MPI_*_f2c here), which every MPI implementation defines.
 *
 * Each function fills times[0..regions-1] with the MPI_Wtime seconds of one region of `batch`
 * back-to-back iterations (a barrier before each region when `barrier` is set) and returns
 * MPI_SUCCESS, or the first MPI error code.
 */
#include <mpi.h>
#include <string.h>

enum {
    FABRIC_ALLREDUCE = 0,
    FABRIC_ALLGATHER = 1,
    FABRIC_REDUCE_SCATTER = 2,
    FABRIC_ALLTOALL = 3,
    FABRIC_BROADCAST = 4
};

/* One collective; count is per rank for all-gather and all-to-all, the received count for
 * reduce-scatter, the whole buffer for all-reduce and broadcast (root 0, in place). */
static int one_collective(int kind, const void *send, void *recv, int count, MPI_Datatype type,
                          MPI_Op op, MPI_Comm comm)
{
    switch (kind) {
    case FABRIC_ALLREDUCE:
        return MPI_Allreduce(send, recv, count, type, op, comm);
    case FABRIC_ALLGATHER:
        return MPI_Allgather(send, count, type, recv, count, type, comm);
    case FABRIC_REDUCE_SCATTER:
        return MPI_Reduce_scatter_block(send, recv, count, type, op, comm);
    case FABRIC_ALLTOALL:
        return MPI_Alltoall(send, count, type, recv, count, type, comm);
    case FABRIC_BROADCAST:
        return MPI_Bcast(recv, count, type, 0, comm);
    default:
        return MPI_ERR_ARG;
    }
}

int fabric_collective_loop(MPI_Fint fcomm, int kind, const void *send, void *recv, int count,
                           MPI_Fint ftype, MPI_Fint fop, long regions, long batch, int barrier,
                           double *times)
{
    MPI_Comm comm = MPI_Comm_f2c(fcomm);
    MPI_Datatype type = MPI_Type_f2c(ftype);
    MPI_Op op = MPI_Op_f2c(fop);
    for (long i = 0; i < regions; i++) {
        int rc;
        if (barrier && (rc = MPI_Barrier(comm)) != MPI_SUCCESS)
            return rc;
        double start = MPI_Wtime();
        for (long j = 0; j < batch; j++)
            if ((rc = one_collective(kind, send, recv, count, type, op, comm)) != MPI_SUCCESS)
                return rc;
        times[i] = MPI_Wtime() - start;
    }
    return MPI_SUCCESS;
}

/* Blocking ping-pong with `peer`, as IMB's PingPong: the side with `first` set sends first.
 * times[i] is the time of `batch` round trips. */
int fabric_pingpong_loop(MPI_Fint fcomm, int peer, int first, const void *send, void *recv,
                         int count, MPI_Fint ftype, int tag, long regions, long batch,
                         double *times)
{
    MPI_Comm comm = MPI_Comm_f2c(fcomm);
    MPI_Datatype type = MPI_Type_f2c(ftype);
    for (long i = 0; i < regions; i++) {
        int rc;
        double start = MPI_Wtime();
        for (long j = 0; j < batch; j++) {
            if (first) {
                if ((rc = MPI_Send(send, count, type, peer, tag, comm)) != MPI_SUCCESS)
                    return rc;
                if ((rc = MPI_Recv(recv, count, type, peer, tag, comm, MPI_STATUS_IGNORE))
                    != MPI_SUCCESS)
                    return rc;
            } else {
                if ((rc = MPI_Recv(recv, count, type, peer, tag, comm, MPI_STATUS_IGNORE))
                    != MPI_SUCCESS)
                    return rc;
                if ((rc = MPI_Send(send, count, type, peer, tag, comm)) != MPI_SUCCESS)
                    return rc;
            }
        }
        times[i] = MPI_Wtime() - start;
    }
    return MPI_SUCCESS;
}

/* The library this file was compiled and linked against, to compare with mpi4py's. */
int fabric_library_version(char *out, int size)
{
    char version[MPI_MAX_LIBRARY_VERSION_STRING];
    int length = 0;
    int rc = MPI_Get_library_version(version, &length);
    if (rc != MPI_SUCCESS || size <= 0)
        return rc != MPI_SUCCESS ? rc : MPI_ERR_ARG;
    if (length >= size)
        length = size - 1;
    memcpy(out, version, (size_t)length);
    out[length] = '\0';
    return MPI_SUCCESS;
}
