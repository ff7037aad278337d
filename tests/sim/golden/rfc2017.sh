# The seed document's example (seed/ap-matrix-rfc-2017-review.txt, "Example:
# Configure AP Matrices for Two Linux Guests"), step by step as written, on
# examples/hosts/rfc2017.yaml.  Run inside tests/lib/with-sim with bash -e;
# the resulting /sys/.sim/dump must equal rfc2017.dump.  uuidgen is replaced
# by fixed UUIDs, starting a guest by the simulator's `attach`.
uuid1=11111111-2222-3333-4444-555555555555
uuid2=66666666-7777-8888-9999-aaaaaaaaaaaa

# 1. unbind the queues from the host driver
cd /sys/bus/ap/drivers/cex4queue
echo 05.0004 > unbind
echo 05.00ab > unbind
echo 05.0047 > unbind
echo 05.00ff > unbind
echo 06.0004 > unbind
echo 06.00ab > unbind

# 2. reserve them for the guests
cd /sys/bus/ap/drivers/vfio_ap_matrix
echo 05.0004 > bind
echo 05.00ab > bind
echo 06.0004 > bind
echo 06.00ab > bind
echo 05.0047 > bind
echo 05.00ff > bind

# 3. create the mediated devices
cd /sys/devices/ap_matrix/matrix/mdev_supported_types/ap_matrix-passthrough
echo $uuid1 > create
echo $uuid2 > create

# 4. configure them (numbers are hex in the RFC; usage domains are control
#    domains for the guest by architectural convention)
cd ./devices/$uuid1
echo 5 > assign_adapter
echo 6 > assign_adapter
echo 4 > assign_domain
echo ab > assign_domain
cd ../$uuid2
echo 5 > assign_adapter
echo 47 > assign_domain
echo ff > assign_domain

# 5., 6. start the guests
echo "attach $uuid1" > /sys/.sim/guest
echo "attach $uuid2" > /sys/.sim/guest
